// The outbox dispatcher (webhook delivery with retries and Idempotency-Key) and the reaper
// (stranded executions, stale claims, pruning, one leader at a time) on PostgreSQL.
#define CAF_SUITE maintenance
#include <atomic>
#include <caf/test/unit_test.hpp>
#include <map>
#include <mutex>
#include <pqxx/pqxx>
#include <thread>

#include "actors/maintenance/outbox_dispatcher.hpp"
#include "actors/maintenance/reaper.hpp"
#include "actors/transports/http_server.hpp"
#include "persistence/barrier_store.hpp"
#include "persistence/claims_store.hpp"
#include "persistence/execution_store.hpp"
#include "persistence/mailbox_store.hpp"
#include "persistence/outbox_store.hpp"
#include "support/node_process.hpp"
#include "support/pipeline_fixture.hpp"
#include "support/values.hpp"

using namespace postbox;
using postbox::test::contains;
using postbox::test::value_of;
using namespace std::chrono_literals;

namespace {

/// A webhook receiver that records every POST and answers with a fixed status.
struct receiver {
  std::mutex mtx;
  std::vector<http_request> seen;
  int status = 200;

  http_server::handler fn() {
    return [this](const http_request& req) {
      std::lock_guard<std::mutex> guard{mtx};
      seen.push_back(req);
      http_reply rep;
      rep.status = status;
      return rep;
    };
  }
  std::map<std::string, int> per_key() {
    std::lock_guard<std::mutex> guard{mtx};
    std::map<std::string, int> out;
    for (const auto& r : seen) {
      auto i = r.headers.find("idempotency-key");
      ++out[i == r.headers.end() ? std::string("<none>") : i->second];
    }
    return out;
  }
  size_t posts() {
    std::lock_guard<std::mutex> guard{mtx};
    return seen.size();
  }
};

struct fixture {
  std::string dsn = test::create_migrated_database("maintenance");
  pg_session session{{dsn, "maintenance-test"}};
  execution_store executions{session};
  mailbox_store mailbox{session};
  outbox_store outbox{session};

  long long n(const std::string& sql) const { return test::count(dsn, sql); }
  std::string text(const std::string& sql) const { return test::scalar(dsn, sql); }
  std::string status(const std::string& id) const {
    return text("SELECT status FROM postbox.executions WHERE id = '" + id + "'");
  }
  long long webhooks(const std::string& id) const {
    return n("SELECT count(*) FROM postbox.outbox WHERE kind = 'webhook' AND execution_id = '" +
             id + "'");
  }

  void create(const std::string& id, execution_status to) {
    CAF_REQUIRE(value_of(executions.create({id, "org-1", "docs", 10, 4})));
    if (to != execution_status::queued)
      CAF_REQUIRE(value_of(executions.transition(id, {execution_status::queued}, to)));
  }
  void backdate(const std::string& table, const std::string& column, const std::string& where) {
    test::exec(dsn, "UPDATE postbox." + table + " SET " + column +
                        " = now() - interval '1 hour' WHERE " + where);
  }
  int64_t send(const std::string& queue, const std::string& execution_id) {
    return value_of(
        mailbox.send({queue, "process_file_batch", execution_id, "org-1", "{}", "{}", 0ms}));
  }
  void active_claim(const std::string& execution_id, int64_t message_id) {
    test::exec(dsn,
               "INSERT INTO postbox.claims (execution_id, owner, state, message_id, receipt) "
               "VALUES ('" +
                   execution_id + "', 'a/orchestrator/0', 'active', " + std::to_string(message_id) +
                   ", 1)");
  }

  static outbox_dispatcher_config dispatcher_config(uint16_t port, int32_t max_attempts) {
    outbox_dispatcher_config cfg;
    cfg.webhook_url = "http://127.0.0.1:" + std::to_string(port) + "/hook";
    cfg.max_attempts = max_attempts;
    cfg.timeout = 1000ms;
    cfg.backoff_base = 1ms;
    cfg.backoff_cap = 5ms;
    return cfg;
  }
  /// run_once after the (tiny) backoff has passed.
  outbox_run_counts dispatch(outbox_dispatcher& d) {
    std::this_thread::sleep_for(20ms);
    return value_of(d.run_once());
  }

  static reaper_settings settings() {
    reaper_settings s;
    s.interval = 1000ms;
    s.stuck_after = 60000ms;
    s.tombstone_retention = 60000ms;
    s.outbox_retention = 60000ms;
    s.dead_letter_retention = 60000ms;
    return s;
  }
};

}  // namespace

CAF_TEST_FIXTURE_SCOPE(maintenance_tests, fixture)

CAF_TEST(webhooks are retried while the receiver is down and delivered once when it is up) {
  CAF_REQUIRE(value_of(outbox.enqueue(
      "e-1", "webhook", R"({"execution_id":"e-1","status":"COMPLETED","files_done":3})")));
  CAF_REQUIRE(value_of(
      outbox.enqueue("e-2", "webhook", R"({"execution_id":"e-2","status":"ERROR","error":"x"})")));
  CAF_REQUIRE(value_of(outbox.enqueue("e-1", "usage", R"({"execution_id":"e-1"})")));
  CAF_CHECK(!value_of(outbox.enqueue("e-1", "webhook", "{}")));  // once per (execution, kind)
  const auto port = test::free_port();
  outbox_dispatcher dispatcher{session, dispatcher_config(port, 10), "a/outbox"};
  auto down = value_of(dispatcher.run_once());
  CAF_CHECK_EQUAL(down.delivered, 0);  // no usage url: the usage record is not taken
  CAF_CHECK_EQUAL(down.retrying, 2);
  CAF_CHECK_EQUAL(down.failed, 0);
  auto still_down = dispatch(dispatcher);
  CAF_CHECK_EQUAL(still_down.retrying, 2);
  CAF_CHECK_EQUAL(n("SELECT count(*) FROM postbox.outbox WHERE kind = 'webhook' AND "
                    "state = 'pending' AND attempts = 2 AND last_error <> ''"),
                  2);
  receiver rec;
  http_server server("127.0.0.1", port, rec.fn());
  CAF_REQUIRE(!server.start());
  auto up = dispatch(dispatcher);
  CAF_CHECK_EQUAL(up.delivered, 2);
  CAF_CHECK_EQUAL(up.retrying, 0);
  auto after = dispatch(dispatcher);
  CAF_CHECK_EQUAL(after.delivered + after.retrying + after.failed, 0);
  server.stop();
  auto keys = rec.per_key();
  CAF_CHECK_EQUAL(keys.size(), 2u);
  CAF_CHECK_EQUAL(keys["e-1:COMPLETED"], 1);
  CAF_CHECK_EQUAL(keys["e-2:ERROR"], 1);
  CAF_CHECK_EQUAL(rec.posts(), 2u);
  for (const auto& req : rec.seen) {
    CAF_CHECK_EQUAL(req.method, "POST");
    CAF_CHECK_EQUAL(req.target, "/hook");
    CAF_CHECK(contains(req.body, "\"execution_id\""));
  }
  CAF_CHECK_EQUAL(n("SELECT count(*) FROM postbox.outbox WHERE state = 'delivered' AND "
                    "delivered_at IS NOT NULL"),
                  2);
  // Nothing claims a delivery that did not happen: the usage record stays pending.
  CAF_CHECK_EQUAL(n("SELECT count(*) FROM postbox.outbox WHERE kind = 'usage' AND "
                    "state = 'pending' AND attempts = 0"),
                  1);
  CAF_CHECK_EQUAL(text("SELECT attempts FROM postbox.outbox WHERE execution_id = 'e-1' AND "
                       "kind = 'webhook'"),
                  "3");
}

CAF_TEST(without a url nothing is claimed or marked delivered) {
  CAF_REQUIRE(value_of(outbox.enqueue("e-1", "webhook", R"({"execution_id":"e-1"})")));
  CAF_REQUIRE(value_of(outbox.enqueue("e-1", "usage", R"({"execution_id":"e-1"})")));
  outbox_dispatcher_config cfg;  // webhooks and usage both without a url
  outbox_dispatcher dispatcher{session, cfg, "a/outbox"};
  auto r = value_of(dispatcher.run_once());
  CAF_CHECK_EQUAL(r.delivered + r.retrying + r.failed, 0);
  CAF_CHECK_EQUAL(n("SELECT count(*) FROM postbox.outbox WHERE state = 'pending' AND attempts = 0"),
                  2);
}

CAF_TEST(a webhook fails for good after max_attempts) {
  CAF_REQUIRE(
      value_of(outbox.enqueue("e-3", "webhook", R"({"execution_id":"e-3","status":"COMPLETED"})")));
  receiver rec;
  rec.status = 500;
  http_server server("127.0.0.1", 0, rec.fn());
  CAF_REQUIRE(!server.start());
  outbox_dispatcher dispatcher{session, dispatcher_config(server.port(), 3), "a/outbox"};
  int retrying = 0, failed = 0;
  for (int i = 0; i < 3; ++i) {
    auto c = dispatch(dispatcher);
    retrying += c.retrying;
    failed += c.failed;
    CAF_CHECK_EQUAL(c.delivered, 0);
  }
  CAF_CHECK_EQUAL(retrying, 2);
  CAF_CHECK_EQUAL(failed, 1);
  auto more = dispatch(dispatcher);
  CAF_CHECK_EQUAL(more.delivered + more.retrying + more.failed, 0);
  server.stop();
  CAF_CHECK_EQUAL(rec.posts(), 3u);
  CAF_CHECK_EQUAL(rec.per_key()["e-3:COMPLETED"], 3);
  CAF_CHECK_EQUAL(text("SELECT state FROM postbox.outbox"), "failed");
  CAF_CHECK_EQUAL(text("SELECT attempts FROM postbox.outbox"), "3");
  CAF_CHECK_EQUAL(text("SELECT last_error FROM postbox.outbox"), "HTTP 500");
}

CAF_TEST(the reaper ends stranded executions and prunes what is past retention) {
  // Stranded: EXECUTING, its orchestration message gone, no barrier progress for an hour.
  create("e-stuck", execution_status::executing);
  CAF_REQUIRE(!barrier_store{session}.arm("e-stuck", 2));
  CAF_REQUIRE(value_of(barrier_store{session}.arrive("e-stuck", 0)).counted);
  active_claim("e-stuck", 999999);
  backdate("executions", "updated_at", "id = 'e-stuck'");
  backdate("barriers", "updated_at", "execution_id = 'e-stuck'");
  backdate("claims", "updated_at", "execution_id = 'e-stuck'");
  // Stranded: QUEUED with no message and no claim.
  create("e-queued", execution_status::queued);
  // Submitted with an on_error continuation: the reaper must still send it.
  test::exec(dsn, R"(UPDATE postbox.executions SET headers = '{"on_error": {"queue": "hooks",
      "type": "execution_callback", "payload": {"who": "caller"}}}' WHERE id = 'e-queued')");
  backdate("executions", "updated_at", "id = 'e-queued'");
  // Alive: a message of its own is still in the mailbox.
  create("e-busy", execution_status::executing);
  send("file_batch", "e-busy");
  backdate("executions", "updated_at", "id = 'e-busy'");
  // Alive: its barrier moved recently.
  create("e-progress", execution_status::executing);
  CAF_REQUIRE(!barrier_store{session}.arm("e-progress", 2));
  backdate("executions", "updated_at", "id = 'e-progress'");
  // Alive: not stuck long enough yet.
  create("e-fresh", execution_status::executing);
  // Terminal: left alone.
  create("e-done", execution_status::completed);
  backdate("executions", "updated_at", "id = 'e-done'");

  // Claims: released only when stale, message gone and execution not EXECUTING.
  create("e-waiting", execution_status::queued);  // recent, so not stranded itself
  active_claim("e-waiting", 888888);
  backdate("claims", "updated_at", "execution_id = 'e-waiting'");
  create("e-held", execution_status::queued);
  active_claim("e-held", send("orchestrator", "e-held"));
  backdate("claims", "updated_at", "execution_id = 'e-held'");
  create("e-running", execution_status::executing);  // recent
  active_claim("e-running", 777777);
  backdate("claims", "updated_at", "execution_id = 'e-running'");
  // Tombstones: one past retention, one recent.
  CAF_REQUIRE(!claims_store{session}.tombstone("e-old", "callback"));
  backdate("claims", "updated_at", "execution_id = 'e-old'");
  CAF_REQUIRE(!claims_store{session}.tombstone("e-new", "callback"));
  // Outbox: delivered long ago (pruned), delivered now and pending long ago (kept).
  test::exec(dsn,
             "INSERT INTO postbox.outbox (execution_id, kind, payload, state, delivered_at, "
             "created_at) VALUES "
             "('o-old', 'webhook', '{}', 'delivered', now() - interval '1 hour', "
             "now() - interval '2 hours'), "
             "('o-new', 'webhook', '{}', 'delivered', now(), now()), "
             "('o-pending', 'webhook', '{}', 'pending', NULL, now() - interval '2 hours')");
  // Dead letters: one past retention, one recent.
  for (int i = 0; i < 2; ++i) {
    send("junk", "");
    auto got = value_of(mailbox.read("junk", 1, 30s, "t"));
    CAF_REQUIRE_EQUAL(got.size(), 1u);
    CAF_REQUIRE(mailbox.dead_letter(got.front().to_lease(), "test " + std::to_string(i)));
  }
  backdate("dead_letters", "dead_at", "reason = 'test 0'");

  reaper r{session, settings(), "node-a"};
  auto c = value_of(r.run_once());
  CAF_CHECK(c.leader);
  CAF_CHECK_EQUAL(c.term, 1);
  CAF_CHECK_EQUAL(c.stranded_failed, 2);
  CAF_CHECK_EQUAL(c.claims_released, 1);
  CAF_CHECK_EQUAL(c.tombstones_pruned, 1);
  CAF_CHECK_EQUAL(c.outbox_pruned, 1);
  CAF_CHECK_EQUAL(c.dead_letters_pruned, 1);

  CAF_CHECK_EQUAL(
      test::count(dsn,
                  "SELECT count(*) FROM postbox.mailbox WHERE queue = 'hooks' "
                  "AND payload->>'execution_id' = 'e-queued' AND payload->>'who' = 'caller' "
                  "AND payload->>'error' LIKE 'stranded%'"),
      1);
  CAF_CHECK_EQUAL(test::count(dsn, "SELECT count(*) FROM postbox.mailbox WHERE queue = 'hooks'"),
                  1);  // e-stuck had no continuation
  for (const std::string id : {"e-stuck", "e-queued"}) {
    CAF_CHECK_EQUAL(status(id), "ERROR");
    CAF_CHECK(
        contains(text("SELECT error FROM postbox.executions WHERE id = '" + id + "'"), "stranded"));
    CAF_CHECK_EQUAL(webhooks(id), 1);
    CAF_CHECK_EQUAL(text("SELECT payload->>'status' FROM postbox.outbox WHERE kind = 'webhook' "
                         "AND execution_id = '" +
                         id + "'"),
                    "ERROR");
    CAF_CHECK_EQUAL(text("SELECT state FROM postbox.claims WHERE execution_id = '" + id + "'"),
                    "tombstone");
  }
  CAF_CHECK_EQUAL(text("SELECT payload->>'files_done' FROM postbox.outbox WHERE "
                       "kind = 'webhook' AND execution_id = 'e-stuck'"),
                  "0");
  CAF_CHECK_EQUAL(status("e-busy"), "EXECUTING");
  CAF_CHECK_EQUAL(status("e-progress"), "EXECUTING");
  CAF_CHECK_EQUAL(status("e-fresh"), "EXECUTING");
  CAF_CHECK_EQUAL(status("e-done"), "COMPLETED");
  CAF_CHECK_EQUAL(status("e-waiting"), "QUEUED");
  for (const std::string id : {"e-busy", "e-progress", "e-fresh", "e-done", "e-waiting"})
    CAF_CHECK_EQUAL(webhooks(id), 0);
  CAF_CHECK_EQUAL(n("SELECT count(*) FROM postbox.claims WHERE execution_id = 'e-waiting'"), 0);
  CAF_CHECK_EQUAL(text("SELECT state FROM postbox.claims WHERE execution_id = 'e-held'"), "active");
  CAF_CHECK_EQUAL(text("SELECT state FROM postbox.claims WHERE execution_id = 'e-running'"),
                  "active");
  CAF_CHECK_EQUAL(n("SELECT count(*) FROM postbox.claims WHERE execution_id = 'e-old'"), 0);
  CAF_CHECK_EQUAL(text("SELECT state FROM postbox.claims WHERE execution_id = 'e-new'"),
                  "tombstone");
  CAF_CHECK_EQUAL(n("SELECT count(*) FROM postbox.outbox WHERE execution_id = 'o-old'"), 0);
  CAF_CHECK_EQUAL(n("SELECT count(*) FROM postbox.outbox WHERE execution_id IN "
                    "('o-new', 'o-pending')"),
                  2);
  CAF_CHECK_EQUAL(n("SELECT count(*) FROM postbox.dead_letters"), 1);
  CAF_CHECK_EQUAL(text("SELECT reason FROM postbox.dead_letters"), "test 1");

  // A second sweep finds nothing new and writes no second webhook.
  auto again = value_of(r.run_once());
  CAF_CHECK(again.leader);
  CAF_CHECK_EQUAL(again.term, 1);
  CAF_CHECK_EQUAL(again.stranded_failed, 0);
  CAF_CHECK_EQUAL(again.claims_released, 0);
  CAF_CHECK_EQUAL(again.tombstones_pruned, 0);
  CAF_CHECK_EQUAL(webhooks("e-stuck"), 1);
  CAF_CHECK_EQUAL(webhooks("e-queued"), 1);
}

// The sweep takes an execution's fence before its row, as postbox.cancel does, and
// only tries it: an execution whose fence is held is busy (a cancel, an ack, a batch
// recording its results), so the sweep skips it and never waits. Before, it locked the
// row first and then waited for the fence: a cancel holding the fence and waiting for
// the row deadlocked with it, and a batch in flight held the sweep (and its leader
// lease) up.
CAF_TEST(the stranded sweep skips a busy execution and never waits on it) {
  for (const std::string id : {"e-cancelling", "e-recording", "e-idle"}) {
    create(id, execution_status::executing);
    backdate("executions", "updated_at", "id = '" + id + "'");
  }
  // A cancel in flight holds e-cancelling's fence (and row); a batch recording its
  // results holds e-recording's fence shared.
  pqxx::connection canceller{dsn};
  pqxx::work cancel{canceller};
  CAF_REQUIRE_EQUAL(
      std::string(cancel.exec("SELECT status FROM postbox.cancel('e-cancelling')")[0][0].c_str()),
      "STOPPED");
  pqxx::connection recorder{dsn};
  pqxx::work recording{recorder};
  recording.exec("SELECT pg_advisory_xact_lock_shared(1885501441, hashtext('e-recording'))");

  reaper r{session, settings(), "node-a"};
  std::atomic<bool> done{false};
  caf::expected<reaper_counts> swept{reaper_counts{}};
  std::thread sweep{[&] {
    swept = r.run_once();
    done = true;
  }};
  bool returned = test::wait_until([&] { return done.load(); }, 10s, 20ms);
  CAF_CHECK(returned);
  cancel.commit();
  recording.commit();
  sweep.join();
  CAF_REQUIRE(swept);
  CAF_CHECK_EQUAL(swept->stranded_failed, 1);
  CAF_CHECK_EQUAL(status("e-idle"), "ERROR");
  CAF_CHECK_EQUAL(status("e-recording"), "EXECUTING");
  CAF_CHECK_EQUAL(webhooks("e-recording"), 0);
  CAF_CHECK_EQUAL(status("e-cancelling"), "STOPPED");
  CAF_CHECK_EQUAL(webhooks("e-cancelling"), 1);

  // Next sweep: the batch has committed and the execution is still stranded.
  auto again = value_of(r.run_once());
  CAF_CHECK_EQUAL(again.stranded_failed, 1);
  CAF_CHECK_EQUAL(status("e-recording"), "ERROR");
  for (const std::string id : {"e-cancelling", "e-recording", "e-idle"})
    CAF_CHECK_EQUAL(webhooks(id), 1);
  CAF_CHECK_EQUAL(text("SELECT payload->>'status' FROM postbox.outbox WHERE kind = 'webhook' AND "
                       "execution_id = 'e-cancelling'"),
                  "STOPPED");
}

CAF_TEST(a second reaper waits while the first leads) {
  create("e-stranded", execution_status::executing);
  backdate("executions", "updated_at", "id = 'e-stranded'");
  pg_session other_session{{dsn, "maintenance-test-2"}};
  reaper first{session, settings(), "node-a"};
  reaper second{other_session, settings(), "node-b"};
  auto a = value_of(first.run_once());
  CAF_CHECK(a.leader);
  CAF_CHECK_EQUAL(a.term, 1);
  CAF_CHECK_EQUAL(a.stranded_failed, 1);
  CAF_CHECK_EQUAL(value_of(first.run_once()).term, 1);  // renewed within its term
  create("e-later", execution_status::queued);
  backdate("executions", "updated_at", "id = 'e-later'");
  auto b = value_of(second.run_once());
  CAF_CHECK(!b.leader);
  CAF_CHECK_EQUAL(b.term, 0);
  CAF_CHECK_EQUAL(b.stranded_failed, 0);
  CAF_CHECK_EQUAL(b.claims_released, 0);
  CAF_CHECK_EQUAL(b.tombstones_pruned, 0);
  CAF_CHECK_EQUAL(b.outbox_pruned, 0);
  CAF_CHECK_EQUAL(b.dead_letters_pruned, 0);
  CAF_CHECK_EQUAL(status("e-later"), "QUEUED");
  CAF_CHECK_EQUAL(text("SELECT holder FROM postbox.leader_leases WHERE name = 'reaper'"), "node-a");
  // After the leader resigns the other one leads at once.
  first.resign();
  auto b2 = value_of(second.run_once());
  CAF_CHECK(b2.leader);
  CAF_CHECK_EQUAL(b2.stranded_failed, 1);
  CAF_CHECK_EQUAL(status("e-later"), "ERROR");
  CAF_CHECK_EQUAL(text("SELECT holder FROM postbox.leader_leases WHERE name = 'reaper'"), "node-b");
  auto a2 = value_of(first.run_once());
  CAF_CHECK(!a2.leader);
  CAF_CHECK_EQUAL(a2.term, 0);
}

CAF_TEST(a leader whose lease expired is replaced under a higher term) {
  pg_session other_session{{dsn, "maintenance-test-2"}};
  reaper first{session, settings(), "node-a"};
  reaper second{other_session, settings(), "node-b"};
  CAF_CHECK_EQUAL(value_of(first.run_once()).term, 1);
  CAF_CHECK(!value_of(second.run_once()).leader);
  test::exec(dsn, "UPDATE postbox.leader_leases SET expires_at = now() - interval '1 second'");
  auto b = value_of(second.run_once());
  CAF_CHECK(b.leader);
  CAF_CHECK_EQUAL(b.term, 2);
  CAF_CHECK(!value_of(first.run_once()).leader);
}

// Disabled: demonstrates a bug. leader_resign.sql DELETEs the lease row, so the next
// leader_acquire INSERTs a fresh row with term 1: the new leader's term equals the old one's.
CAF_TEST(after a resignation the next leader has a higher term) {
  pg_session other_session{{dsn, "maintenance-test-2"}};
  reaper first{session, settings(), "node-a"};
  reaper second{other_session, settings(), "node-b"};
  auto a = value_of(first.run_once());
  CAF_REQUIRE(a.leader);
  first.resign();
  auto b = value_of(second.run_once());
  CAF_REQUIRE(b.leader);
  CAF_CHECK_GREATER(b.term, a.term);
}

CAF_TEST_FIXTURE_SCOPE_END()

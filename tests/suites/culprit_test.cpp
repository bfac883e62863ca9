// Guarantee 8 with real node processes: a crash is charged to its culprit (a file
// that aborts its node fails only its own execution; the executions in flight
// beside it complete), and a hung handler cannot hold a lease, a worker or a
// drain forever (max_handler_time, drain_timeout), also with the database gone.
#define CAF_SUITE culprit
#include <caf/test/unit_test.hpp>
#include <csignal>
#include <pqxx/pqxx>

#include "actors/maintenance/outbox_dispatcher.hpp"
#include "actors/transports/http_client.hpp"
#include "support/executions.hpp"
#include "support/node_process.hpp"
#include "support/pg_fixture.hpp"

using namespace postbox;
using namespace std::chrono_literals;

namespace {

/// Longest a webhook can take when a node aborted holding its outbox claim: the
/// dispatcher's claim lease, the POST timeout, and room for a busy machine.
const std::chrono::milliseconds webhook_after_abort =
    outbox_dispatcher_config{}.claim_lease + std::chrono::seconds(20);

struct fixture {
  std::string dsn = test::create_migrated_database("culprit");
  std::string dir = test::make_temp_dir("culprit");
  test::webhook_receiver hooks;
  uint16_t http_port = test::free_port();
  int submitted = 0;

  /// One node `a`; `file_batch` is the queue's settings line.
  std::string topology(const std::string& name, const std::string& file_batch,
                       const std::string& drain_timeout = "30s") {
    return test::write_file(dir + "/" + name + ".yaml", R"(cluster: culprit
database: { dsn: "${POSTBOX_DSN}" }
drain_timeout: )" + drain_timeout + R"(
queues:
  orchestrator: { visibility_timeout: 2s, max_attempts: 3, poll_interval: 200ms }
  file_batch:   )" + file_batch + R"(
  callback:     { visibility_timeout: 2s, max_attempts: 5, poll_interval: 200ms }
workflows:
  docs:  { processor: checksum, batch_size: 1 }
  mixed: { processor: chaos, batch_size: 1, options: { sleep_ms: 300, abort_on: "*.boom" } }
  hang:  { processor: chaos, batch_size: 1, options: { hang_on: "*.hang" } }
webhooks: { url: ")" + hooks.url() + R"(", max_attempts: 10 }
reaper: { interval: 1s, stuck_after: 2m }
nodes:
  a:
    http_port: )" + std::to_string(http_port) + R"(
    actors:
      - { role: orchestrator }
      - { role: file_batch, concurrency: 4 }
      - { role: callback }
      - { role: reaper }
      - { role: outbox }
)");
  }

  std::vector<std::string> files(const std::string& prefix, int n) {
    return test::make_files(dir, prefix, n);
  }

  std::string submit(const std::string& workflow, const std::vector<std::string>& paths) {
    auto id = "exec-" + std::to_string(++submitted);
    test::submit_files(dsn, id, workflow, paths, 1);
    return id;
  }

  std::string status(const std::string& id) { return test::execution_status(dsn, id); }
  long long count(const std::string& sql) { return test::count(dsn, sql); }
  long long results(const std::string& id) {
    return count("SELECT count(*) FROM postbox.file_results WHERE execution_id = '" + id + "'");
  }
  bool terminal(const std::string& id) {
    auto s = status(id);
    return s == "COMPLETED" || s == "ERROR" || s == "STOPPED";
  }
  bool webhook_delivered(const std::string& id) { return test::webhook_delivered(dsn, id); }
  /// A node whose queues use defaults but short leases; drain_timeout 2s.
  std::string plain_topology(const std::string& name) {
    return topology(name,
                    "{ visibility_timeout: 2s, max_attempts: 3, claim_batch: 4, "
                    "poll_interval: 200ms }",
                    "2s");
  }
  /// True while a node holds the lease of `id`'s batch.
  bool batch_running(const std::string& id) {
    return count(
               "SELECT count(*) FROM postbox.mailbox WHERE queue = 'file_batch' AND "
               "receipt IS NOT NULL AND execution_id = '" +
               id + "'") == 1;
  }
  /// SIGTERM, then the exit code and how long the node took to exit.
  std::pair<int, std::chrono::milliseconds> sigterm(test::node_process& node) {
    auto t0 = std::chrono::steady_clock::now();
    node.signal(SIGTERM);
    int code = node.wait_exit(20s);
    auto took = std::chrono::duration_cast<std::chrono::milliseconds>(
        std::chrono::steady_clock::now() - t0);
    CAF_MESSAGE("exit took " << took.count() << "ms");
    return {code, took};
  }
  int healthz() {
    return http_get("http://127.0.0.1:" + std::to_string(http_port) + "/healthz", 1s).status;
  }
};

}  // namespace

CAF_TEST_FIXTURE_SCOPE(culprit_tests, fixture)

CAF_TEST(a file that aborts its node fails only its own execution) {
  auto topo = topology(
      "crash", "{ visibility_timeout: 2s, max_attempts: 3, claim_batch: 4, poll_interval: 200ms }");
  // The innocent batches come first, so they are in flight whenever x.boom aborts.
  auto innocent = submit("mixed", files("ok", 12));
  auto guilty_files = files("bad", 2);
  guilty_files.push_back(test::write_file(dir + "/in/x.boom", "boom\n"));
  auto guilty = submit("mixed", guilty_files);
  int starts = 0;
  int suspects_run = 0;
  auto deadline = std::chrono::steady_clock::now() + 150s;
  while (!(terminal(innocent) && terminal(guilty)) && starts < 15 &&
         std::chrono::steady_clock::now() < deadline) {
    test::node_process a(topo, "a", dsn);
    CAF_REQUIRE(a.start());
    ++starts;
    test::wait_until([&] { return !a.running() || (terminal(innocent) && terminal(guilty)); }, 60s,
                     100ms);
    auto count_suspects = [&] {
      auto log = a.log();
      for (auto at = log.find("is a suspect"); at != std::string::npos;
           at = log.find("is a suspect", at + 1))
        ++suspects_run;
    };
    if (a.running()) {
      // An earlier node may have aborted while its outbox dispatcher held a webhook row
      // claimed (mid-POST): the row is due again only after the dispatcher's claim lease
      // (30 s), so the default 15 s wait failed on a slow machine. Wait past the lease.
      CAF_CHECK(test::webhook_delivered(dsn, innocent, webhook_after_abort));
      CAF_CHECK(test::webhook_delivered(dsn, guilty, webhook_after_abort));
      a.signal(SIGTERM);
      CAF_CHECK_EQUAL(a.wait_exit(15s), 0);
    } else {
      CAF_CHECK_EQUAL(a.wait_exit(5s), 128 + SIGABRT);
    }
    count_suspects();
  }
  CAF_MESSAGE("node started " << starts << " times; " << suspects_run << " suspects ran alone");
  // Innocent batches were abandoned beside the culprit, ran alone, and were never charged.
  CAF_CHECK_GREATER(suspects_run, 3);
  CAF_CHECK_GREATER_OR_EQUAL(starts, 4);  // the culprit crashed it three times, alone
  CAF_CHECK_EQUAL(status(innocent), "COMPLETED");
  CAF_CHECK_EQUAL(results(innocent), 12);
  CAF_CHECK_EQUAL(
      count("SELECT count(*) FROM postbox.dead_letters WHERE execution_id = '" + innocent + "'"),
      0);
  CAF_CHECK_EQUAL(status(guilty), "ERROR");
  // Only the culprit is dead-lettered, and its reason says what it did.
  CAF_CHECK_EQUAL(count("SELECT count(*) FROM postbox.dead_letters"), 1);
  CAF_CHECK_EQUAL(count("SELECT count(*) FROM postbox.dead_letters WHERE payload::text LIKE "
                        "'%x.boom%' AND attempts = 3 AND reason LIKE '%crashed its node while "
                        "running alone%'"),
                  1);
  // The operator sees the same: one dead letter, three attempts charged.
  auto listed = test::run_cli({"--dsn", dsn, "--json", "dead-letters", "list"});
  CAF_CHECK_EQUAL(listed.exit_code, 0);
  CAF_CHECK(listed.out.find("\"attempts\":3") != std::string::npos);
  // One webhook row per execution, each delivered. A node that aborted mid-POST posts
  // its key again once the claim lease runs out (what the Idempotency-Key is for), so
  // a key may arrive twice, but no other key arrives.
  CAF_CHECK_EQUAL(count("SELECT count(*) FROM postbox.outbox WHERE kind = 'webhook'"), 2);
  const int innocent_posts = hooks.posts(innocent + ":COMPLETED");
  const int guilty_posts = hooks.posts(guilty + ":ERROR");
  CAF_MESSAGE("webhook posts: " << innocent_posts << " and " << guilty_posts);
  CAF_CHECK_GREATER_OR_EQUAL(innocent_posts, 1);
  CAF_CHECK_GREATER_OR_EQUAL(guilty_posts, 1);
  CAF_CHECK_EQUAL(hooks.total_posts(), innocent_posts + guilty_posts);
  CAF_CHECK_EQUAL(count("SELECT count(*) FROM postbox.mailbox WHERE queue <> 'hooks'"), 0);
}

CAF_TEST(a hung handler is failed after max handler time and the node keeps serving) {
  auto topo = topology("hang",
                       "{ visibility_timeout: 2s, max_attempts: 2, claim_batch: 4, "
                       "poll_interval: 200ms, max_handler_time: 1s }",
                       "2s");
  test::node_process a(topo, "a", dsn);
  CAF_REQUIRE(a.start());
  auto hung_files = files("fine", 2);
  hung_files.push_back(test::write_file(dir + "/in/x.hang", "zzz\n"));
  auto hung = submit("hang", hung_files);
  CAF_CHECK(test::wait_until([&] { return terminal(hung); }, 30s, 100ms));
  CAF_CHECK_EQUAL(status(hung), "ERROR");
  CAF_CHECK(webhook_delivered(hung));
  CAF_CHECK_EQUAL(hooks.posts(hung + ":ERROR"), 1);
  CAF_CHECK_EQUAL(count("SELECT count(*) FROM postbox.dead_letters WHERE payload::text LIKE "
                        "'%x.hang%' AND attempts = 2 AND reason LIKE '%timed out: still running "
                        "after max_handler_time (1s)%'"),
                  1);
  CAF_CHECK_EQUAL(results(hung), 2);  // its neighbours were done
  // Two worker threads are still stuck in the hung handler: /healthz says so.
  CAF_CHECK_EQUAL(healthz(), 503);
  // The slots were refilled: the node keeps serving.
  auto next = submit("docs", files("next", 6));
  CAF_CHECK(test::wait_until([&] { return status(next) == "COMPLETED"; }, 20s, 100ms));
  CAF_CHECK_EQUAL(results(next), 6);
  // SIGTERM with stuck threads: the node does not wait for them.
  auto [code, took] = sigterm(a);
  CAF_CHECK_EQUAL(code, 0);
  CAF_CHECK_LESS(took, 6s);  // no drain to wait for: not held by the stuck threads
}

CAF_TEST(a hung handler whose row is locked never stalls the consumer and is failed later) {
  auto topo = topology("locked",
                       "{ visibility_timeout: 3s, max_attempts: 5, claim_batch: 4, "
                       "poll_interval: 200ms, max_handler_time: 2s }",
                       "2s");
  test::node_process a(topo, "a", dsn);
  CAF_REQUIRE(a.start());
  auto hung = submit("hang", {test::write_file(dir + "/in/y.hang", "zzz\n")});
  CAF_REQUIRE(test::wait_until([&] { return batch_running(hung); }, 20s, 20ms));
  auto id =
      std::to_string(count("SELECT id FROM postbox.mailbox WHERE queue = 'file_batch' AND "
                           "execution_id = '" +
                           hung + "'"));
  // Another session holds its row (as a cancel left open in a SQL session would, with
  // the stuck handler's ack waiting behind it) past max_handler_time.
  pqxx::connection c{dsn};
  pqxx::work holder{c};
  holder.exec("SELECT 1 FROM postbox.mailbox WHERE id = " + id + " FOR UPDATE");
  CAF_REQUIRE(test::wait_until(
      [&] { return a.log().find("still running after max_handler_time") != std::string::npos; },
      10s, 50ms));
  // The consumer still claims, renews and completes other work meanwhile.
  auto next = submit("docs", files("beside", 3));
  CAF_CHECK(test::wait_until([&] { return status(next) == "COMPLETED"; }, 15s, 100ms));
  CAF_CHECK_EQUAL(results(next), 3);
  CAF_CHECK_EQUAL(count("SELECT attempts FROM postbox.mailbox WHERE id = " + id), 0);
  // The lock goes: the stuck delivery is failed, charged once.
  holder.abort();
  CAF_CHECK(test::wait_until(
      [&] {
        return count("SELECT count(*) FROM postbox.mailbox WHERE id = " + id +
                     " AND attempts >= 1") == 1;
      },
      10s, 20ms));
  CAF_CHECK_EQUAL(count("SELECT count(*) FROM postbox.mailbox WHERE id = " + id +
                        " AND attempts = 1 AND last_error LIKE 'timed out: still running after "
                        "max_handler_time (2s)%'"),
                  1);
  CAF_CHECK_EQUAL(sigterm(a).first, 0);
}

CAF_TEST(sigterm during a long handler exits within drain timeout and gives it back) {
  test::node_process a(plain_topology("drain"), "a", dsn);
  CAF_REQUIRE(a.start());
  auto id = submit("hang", {test::write_file(dir + "/in/y.hang", "zzz\n")});
  CAF_REQUIRE(test::wait_until([&] { return batch_running(id); }, 15s, 50ms));
  auto [code, took] = sigterm(a);
  CAF_CHECK_EQUAL(code, 0);
  CAF_CHECK_GREATER_OR_EQUAL(took, 2s);  // it waited for the handler up to drain_timeout
  CAF_CHECK_LESS(took, 6s);              // drain_timeout 2s, with room for a busy machine
  // Given back, uncharged: visible again for another node, nothing lost.
  CAF_CHECK_EQUAL(count("SELECT count(*) FROM postbox.mailbox WHERE queue = 'file_batch' AND "
                        "receipt IS NULL AND attempts = 0 AND execution_id = '" +
                        id + "'"),
                  1);
  CAF_CHECK_EQUAL(status(id), "EXECUTING");
}

CAF_TEST(sigterm with the database unreachable still exits within drain timeout) {
  test::node_process a(plain_topology("gone"), "a", dsn);
  CAF_REQUIRE(a.start());
  auto id = submit("hang", {test::write_file(dir + "/in/z.hang", "zzz\n")});
  CAF_REQUIRE(test::wait_until([&] { return batch_running(id); }, 15s, 50ms));
  // The node's database goes away: no new connection, every open one ended.
  auto db = test::scalar(dsn, "SELECT current_database()");
  auto admin = test::server_dsn();
  test::exec(admin, "ALTER DATABASE " + db + " ALLOW_CONNECTIONS false");
  test::exec(admin,
             "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '" + db + "'");
  auto [code, took] = sigterm(a);
  test::exec(admin, "ALTER DATABASE " + db + " ALLOW_CONNECTIONS true");
  CAF_CHECK_EQUAL(code, 0);
  CAF_CHECK_LESS(took, 7s);  // drain_timeout 2s (+2s at the very most), room for a busy machine
  // Nothing lost: the delivery is still there, and comes back when its lease runs out.
  CAF_CHECK_EQUAL(count("SELECT count(*) FROM postbox.mailbox WHERE queue = 'file_batch' AND "
                        "execution_id = '" +
                        id + "'"),
                  1);
}

CAF_TEST_FIXTURE_SCOPE_END()

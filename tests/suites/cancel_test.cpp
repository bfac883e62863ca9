// Cancel as a guarantee (guarantee 9): postbox.cancel / client::cancel / `postbox cancel`
// make an execution STOPPED at once, and nothing of it commits afterwards — no result,
// no arrival, no callback, no COMPLETED — also from deliveries already in flight; one
// webhook, on_error once with error "cancelled". Races with the last batch and with
// the callback are driven step by step in process; a mid-run cancel on two real nodes.
#define CAF_SUITE cancel
#include <boost/json.hpp>
#include <caf/test/unit_test.hpp>
#include <future>
#include <pqxx/pqxx>

#include "client/client.hpp"
#include "support/node_process.hpp"
#include "support/pipeline_fixture.hpp"
#include "support/values.hpp"

using namespace postbox;
using postbox::test::contains;
using postbox::test::value_of;
using namespace std::chrono_literals;
namespace json = boost::json;

namespace {

struct fixture : test::pipeline_fixture {
  fixture() : test::pipeline_fixture("cancel") {}

  /// Cancels on a connection of its own (as another process would).
  caf::expected<cancel_outcome> cancel(const std::string& id) const {
    pg_session s{session_options{dsn, "canceller"}};
    execution_store store{s};
    return store.cancel(id);
  }

  /// True when exactly `k` sessions of this database wait on an advisory lock.
  bool waiting_on_fence(int k = 1) const {
    return n("SELECT count(*) FROM pg_stat_activity WHERE wait_event = 'advisory' AND "
             "datname = current_database()") == k;
  }

  long long results_of(const std::string& id) const {
    return n("SELECT count(*) FROM postbox.file_results WHERE execution_id = '" + id + "'");
  }
  /// Continuations to `hooks` of execution `id`: outside it (no envelope execution_id),
  /// the payload names it.
  long long hooks_of(const std::string& id) const {
    return n(
        "SELECT count(*) FROM postbox.mailbox WHERE queue = 'hooks' AND execution_id IS "
        "NULL AND payload->>'execution_id' = '" +
        id + "'");
  }
  /// Arrivals of execution `id`'s batches as `cancelled` (after the cancel).
  long long cancelled_arrivals(const std::string& id) const {
    return n("SELECT count(*) FROM postbox.barrier_arrivals WHERE group_id = '" + id +
             "' AND status = 'error' AND error = 'cancelled'");
  }
  /// Arrivals that carry a batch's success (before the cancel).
  long long ok_arrivals(const std::string& id) const {
    return n("SELECT count(*) FROM postbox.barrier_arrivals WHERE group_id = '" + id +
             "' AND status = 'ok'");
  }
  long long arrivals(const std::string& id) const {
    return n("SELECT count(*) FROM postbox.barrier_arrivals WHERE group_id = '" + id + "'");
  }
  std::string webhook_status(const std::string& id) const {
    return text(
        "SELECT string_agg(payload->>'status', ',') FROM postbox.outbox WHERE "
        "execution_id = '" +
        id + "' AND kind = 'webhook'");
  }
};

}  // namespace

CAF_TEST_FIXTURE_SCOPE(cancel_tests, fixture)

CAF_TEST(a queued execution cancelled before any node saw it only acks its orchestration) {
  submit("e-q", "counted", dir.files(5), 2, test::continuation_headers(true, true));
  auto r = cancel("e-q");
  CAF_REQUIRE(r);
  CAF_CHECK(r->cancelled);
  CAF_CHECK_EQUAL(to_string(r->status), std::string("STOPPED"));
  CAF_CHECK_EQUAL(status("e-q"), "STOPPED");
  CAF_CHECK_EQUAL(text("SELECT error FROM postbox.executions WHERE id = 'e-q'"), "cancelled");
  CAF_CHECK_EQUAL(outbox_rows("e-q", "webhook"), 1);
  CAF_CHECK_EQUAL(outbox_rows("e-q", "usage"), 1);
  CAF_CHECK_EQUAL(webhook_status("e-q"), "STOPPED");
  // on_error once, with the caller's payload and error "cancelled"; no on_success.
  CAF_CHECK_EQUAL(hooks_of("e-q"), 1);
  CAF_CHECK_EQUAL(n("SELECT count(*) FROM postbox.mailbox WHERE queue = 'hooks' AND type = "
                    "'notify_failed' AND payload->>'error' = 'cancelled' AND "
                    "payload->>'status' = 'STOPPED' AND payload->>'ticket' = '7'"),
                  1);
  // The node comes later: it acks the orchestration and starts nothing.
  CAF_CHECK_EQUAL(step(orchestrator_queue), 1);
  CAF_CHECK_EQUAL(to_string(results.back().what), std::string("acked"));
  CAF_CHECK_EQUAL(queued(orchestrator_queue), 0);
  CAF_CHECK_EQUAL(queued(file_batch_queue), 0);
  CAF_CHECK_EQUAL(n("SELECT count(*) FROM postbox.barriers WHERE group_id = 'e-q'"), 0);
  CAF_CHECK_EQUAL(counted_calls->load(), 0);
  CAF_CHECK_EQUAL(status("e-q"), "STOPPED");
  // A second cancel says so and changes nothing.
  auto again = cancel("e-q");
  CAF_REQUIRE(again);
  CAF_CHECK(!again->cancelled);
  CAF_CHECK_EQUAL(to_string(again->status), std::string("STOPPED"));
  CAF_CHECK_EQUAL(outbox_rows("e-q", "webhook"), 1);
  CAF_CHECK_EQUAL(hooks_of("e-q"), 1);
}

CAF_TEST(batches not yet started are acked without work after a cancel) {
  submit("e-b", "counted", dir.files(25), 10, test::continuation_headers(false, true));
  CAF_CHECK_EQUAL(step(orchestrator_queue), 1);
  CAF_REQUIRE_EQUAL(queued(file_batch_queue), 3);
  CAF_REQUIRE(cancel("e-b"));
  CAF_CHECK_EQUAL(step(file_batch_queue), 3);
  for (const auto& r : results) CAF_CHECK_EQUAL(to_string(r.what), std::string("acked"));
  CAF_CHECK_EQUAL(counted_calls->load(), 0);
  CAF_CHECK_EQUAL(results_of("e-b"), 0);
  // Every batch arrives as cancelled (a group around the execution still fires); the
  // callback that fires completes nothing.
  CAF_CHECK_EQUAL(ok_arrivals("e-b"), 0);
  CAF_CHECK_EQUAL(cancelled_arrivals("e-b"), 3);
  CAF_CHECK_EQUAL(step(callback_queue), 1);
  CAF_CHECK_EQUAL(queued(callback_queue), 0);
  CAF_CHECK_EQUAL(queued(file_batch_queue), 0);
  CAF_CHECK_EQUAL(status("e-b"), "STOPPED");
  CAF_CHECK_EQUAL(outbox_rows("e-b", "webhook"), 1);
  CAF_CHECK_EQUAL(hooks_of("e-b"), 1);
}

CAF_TEST(a batch running its processor when the cancel commits records nothing afterwards) {
  // 600 ms a file, three files: past one second it would checkpoint what it has.
  submit("e-run", "counted_slowly", dir.files(3), 0, test::continuation_headers(false, true));
  CAF_CHECK_EQUAL(step(orchestrator_queue), 1);
  auto held = hold(file_batch_queue, 1);
  CAF_REQUIRE_EQUAL(held.size(), 1u);
  auto done = std::async(std::launch::async, [&] { return handle_delivery(ctx, held[0]); });
  CAF_REQUIRE(test::wait_until([&] { return counted_calls->load() >= 1; }, 10s, 5ms));
  auto r = cancel("e-run");
  CAF_REQUIRE(r);
  CAF_CHECK(r->cancelled);
  auto at_cancel = results_of("e-run");
  auto handled = done.get();
  CAF_CHECK_EQUAL(to_string(handled.what), std::string("acked"));
  CAF_CHECK(contains(handled.detail, "stopped"));
  // The processor may go on until its checkpoint is refused (then the batch stops) ...
  CAF_CHECK(counted_calls->load() <= 3);
  CAF_CHECK_EQUAL(results_of("e-run"), at_cancel);  // ... but nothing of it commits
  CAF_CHECK_EQUAL(results_of("e-run"), 0);          // the cancel came before any checkpoint
  CAF_CHECK_EQUAL(ok_arrivals("e-run"), 0);
  CAF_CHECK_EQUAL(cancelled_arrivals("e-run"), 1);
  CAF_CHECK_EQUAL(queued(file_batch_queue), 0);
  CAF_CHECK_EQUAL(step(callback_queue), 1);
  CAF_CHECK_EQUAL(queued(callback_queue), 0);
  CAF_CHECK_EQUAL(status("e-run"), "STOPPED");
  CAF_CHECK_EQUAL(outbox_rows("e-run", "webhook"), 1);
  CAF_CHECK_EQUAL(hooks_of("e-run"), 1);
}

CAF_TEST(the last batch committing first then the cancel ends STOPPED with its results counted) {
  submit("e-lb", "counted", dir.files(4), 2);
  CAF_CHECK_EQUAL(step(orchestrator_queue), 1);
  auto first = hold(file_batch_queue, 1);
  CAF_REQUIRE_EQUAL(first.size(), 1u);
  CAF_CHECK_EQUAL(to_string(handle_delivery(ctx, first[0]).what), std::string("acked"));
  // The last batch's ack transaction holds the fence (shared) while a cancel starts.
  std::future<caf::expected<cancel_outcome>> cancelled;
  ctx.before_commit = [&] {
    cancelled = std::async(std::launch::async, [&] { return cancel("e-lb"); });
    CAF_REQUIRE(test::wait_until([&] { return waiting_on_fence(); }, 10s));
  };
  CAF_CHECK_EQUAL(step(file_batch_queue), 1);
  ctx.before_commit = nullptr;
  auto r = cancelled.get();
  CAF_REQUIRE(r);
  CAF_CHECK(r->cancelled);  // the barrier fired, but the callback had not run
  CAF_CHECK_EQUAL(results_of("e-lb"), 4);
  CAF_CHECK_EQUAL(arrivals("e-lb"), 2);
  // Whatever the callback does now, it completes nothing.
  CAF_CHECK_EQUAL(queued(callback_queue), 1);
  drain();
  CAF_CHECK_EQUAL(queued(callback_queue), 0);
  CAF_CHECK_EQUAL(status("e-lb"), "STOPPED");
  CAF_CHECK_EQUAL(value_of(executions.get("e-lb")).files_done, 4);
  CAF_CHECK_EQUAL(outbox_rows("e-lb", "webhook"), 1);
  CAF_CHECK_EQUAL(webhook_status("e-lb"), "STOPPED");
}

CAF_TEST(the cancel committing first then the last batch ends STOPPED without its arrival) {
  submit("e-cf", "counted", dir.files(4), 2);
  CAF_CHECK_EQUAL(step(orchestrator_queue), 1);
  auto first = hold(file_batch_queue, 1);
  CAF_REQUIRE_EQUAL(first.size(), 1u);
  CAF_CHECK_EQUAL(to_string(handle_delivery(ctx, first[0]).what), std::string("acked"));
  auto last = hold(file_batch_queue, 1);
  CAF_REQUIRE_EQUAL(last.size(), 1u);
  // The cancel holds the fence (exclusive) while the last batch tries to record.
  pqxx::connection c{dsn};
  pqxx::work canceller{c};
  auto r = canceller.exec("SELECT status, cancelled FROM postbox.cancel('e-cf')");
  CAF_CHECK_EQUAL(std::string(r[0][0].c_str()), "STOPPED");
  auto done = std::async(std::launch::async, [&] { return handle_delivery(ctx, last[0]); });
  CAF_REQUIRE(test::wait_until([&] { return waiting_on_fence(); }, 10s));
  canceller.commit();
  auto handled = done.get();
  CAF_CHECK_EQUAL(to_string(handled.what), std::string("acked"));
  CAF_CHECK(contains(handled.detail, "stopped"));
  CAF_CHECK_EQUAL(results_of("e-cf"), 2);  // the first batch's only
  CAF_CHECK_EQUAL(ok_arrivals("e-cf"), 1);
  CAF_CHECK_EQUAL(cancelled_arrivals("e-cf"), 1);
  CAF_CHECK_EQUAL(step(callback_queue), 1);
  CAF_CHECK_EQUAL(queued(callback_queue), 0);
  CAF_CHECK_EQUAL(queued(file_batch_queue), 0);
  CAF_CHECK_EQUAL(status("e-cf"), "STOPPED");
  CAF_CHECK_EQUAL(value_of(executions.get("e-cf")).files_done, 2);
  CAF_CHECK_EQUAL(outbox_rows("e-cf", "webhook"), 1);
  CAF_CHECK_EQUAL(webhook_status("e-cf"), "STOPPED");
}

CAF_TEST(a callback committing first wins and the cancel says already COMPLETED) {
  submit("e-cb", "counted", dir.files(4), 2, test::continuation_headers(true, true));
  CAF_CHECK_EQUAL(step(orchestrator_queue), 1);
  CAF_CHECK_EQUAL(step(file_batch_queue), 2);
  std::future<caf::expected<cancel_outcome>> cancelled;
  ctx.before_commit = [&] {
    cancelled = std::async(std::launch::async, [&] { return cancel("e-cb"); });
    CAF_REQUIRE(test::wait_until([&] { return waiting_on_fence(); }, 10s));
  };
  CAF_CHECK_EQUAL(step(callback_queue), 1);
  ctx.before_commit = nullptr;
  auto r = cancelled.get();
  CAF_REQUIRE(r);
  CAF_CHECK(!r->cancelled);
  CAF_CHECK_EQUAL(to_string(r->status), std::string("COMPLETED"));
  CAF_CHECK_EQUAL(status("e-cb"), "COMPLETED");
  CAF_CHECK_EQUAL(outbox_rows("e-cb", "webhook"), 1);
  CAF_CHECK_EQUAL(webhook_status("e-cb"), "COMPLETED");
  CAF_CHECK_EQUAL(n("SELECT count(*) FROM postbox.mailbox WHERE queue = 'hooks' AND "
                    "type = 'notify_done'"),
                  1);
  CAF_CHECK_EQUAL(n("SELECT count(*) FROM postbox.mailbox WHERE queue = 'hooks' AND "
                    "type = 'notify_failed'"),
                  0);
}

CAF_TEST(a cancel that wins over the callback leaves it nothing to complete) {
  submit("e-cw", "counted", dir.files(4), 2, test::continuation_headers(true, true));
  CAF_CHECK_EQUAL(step(orchestrator_queue), 1);
  CAF_CHECK_EQUAL(step(file_batch_queue), 2);
  CAF_REQUIRE_EQUAL(queued(callback_queue), 1);
  auto r = cancel("e-cw");
  CAF_REQUIRE(r);
  CAF_CHECK(r->cancelled);
  CAF_CHECK_EQUAL(step(callback_queue), 1);
  CAF_CHECK_EQUAL(to_string(results.back().what), std::string("acked"));
  CAF_CHECK_EQUAL(status("e-cw"), "STOPPED");
  CAF_CHECK_EQUAL(value_of(executions.get("e-cw")).files_done, 4);
  CAF_CHECK_EQUAL(outbox_rows("e-cw", "webhook"), 1);
  CAF_CHECK_EQUAL(webhook_status("e-cw"), "STOPPED");
  CAF_CHECK_EQUAL(n("SELECT count(*) FROM postbox.mailbox WHERE queue = 'hooks' AND "
                    "type = 'notify_done'"),
                  0);
  CAF_CHECK_EQUAL(n("SELECT count(*) FROM postbox.mailbox WHERE queue = 'hooks' AND "
                    "type = 'notify_failed' AND payload->>'error' = 'cancelled'"),
                  1);
}

CAF_TEST(the sql cancel commits with the caller and refuses an unknown id) {
  submit("e-sql", "counted", dir.files(2), 0, test::continuation_headers(false, true));
  {
    pqxx::connection c{dsn};
    pqxx::work w{c};
    auto r = w.exec("SELECT status, cancelled FROM postbox.cancel('e-sql')");
    CAF_CHECK_EQUAL(std::string(r[0][0].c_str()), "STOPPED");
    CAF_CHECK_EQUAL(std::string(r[0][1].c_str()), "t");
    w.abort();
  }
  CAF_CHECK_EQUAL(status("e-sql"), "QUEUED");
  CAF_CHECK_EQUAL(outbox_rows("e-sql", "webhook"), 0);
  CAF_CHECK_EQUAL(hooks_of("e-sql"), 0);
  CAF_CHECK_EQUAL(n("SELECT count(*) FROM postbox.claims WHERE execution_id = 'e-sql'"), 0);
  auto unknown = cancel("nope");
  CAF_REQUIRE(!unknown);
  CAF_CHECK(is(unknown.error(), errc::not_found));
  CAF_CHECK_EQUAL(n("SELECT count(*) FROM postbox.executions WHERE id = 'nope'"), 0);
  std::string sqlstate;
  try {
    pqxx::connection c{dsn};
    pqxx::work w{c};
    w.exec("SELECT postbox.cancel('nope')");
  } catch (const pqxx::sql_error& e) {
    sqlstate = e.sqlstate();
  }
  CAF_CHECK_EQUAL(sqlstate, "P0002");
}

CAF_TEST(the cli cancels once then says already and fails one line for an unknown id) {
  submit("e-cli", "counted", dir.files(2), 0);
  auto first = test::run_cli({"--dsn", dsn, "--json", "cancel", "e-cli"});
  CAF_CHECK_EQUAL(first.exit_code, 0);
  json::error_code ec;
  auto v = json::parse(first.out, ec);
  CAF_REQUIRE(!ec && v.is_object());
  CAF_CHECK_EQUAL(std::string(v.as_object().at("status").as_string()), "STOPPED");
  CAF_CHECK(v.as_object().at("cancelled").as_bool());
  auto again = test::run_cli({"--dsn", dsn, "cancel", "e-cli"});
  CAF_CHECK_EQUAL(again.exit_code, 0);
  CAF_CHECK_EQUAL(again.out, "already STOPPED: nothing to cancel\n");
  // A completed one: a no-op that says so.
  submit("e-cli-done", "counted", dir.files(2), 0);
  drain();
  CAF_REQUIRE_EQUAL(status("e-cli-done"), "COMPLETED");
  auto done = test::run_cli({"--dsn", dsn, "cancel", "e-cli-done"});
  CAF_CHECK_EQUAL(done.exit_code, 0);
  CAF_CHECK_EQUAL(done.out, "already COMPLETED: nothing to cancel\n");
  CAF_CHECK_EQUAL(status("e-cli-done"), "COMPLETED");
  CAF_CHECK_EQUAL(outbox_rows("e-cli-done", "webhook"), 1);
  auto unknown = test::run_cli({"--dsn", dsn, "cancel", "no-such-execution"});
  CAF_CHECK_EQUAL(unknown.exit_code, 1);
  CAF_CHECK_EQUAL(unknown.err, "postbox: no execution no-such-execution\n");
  CAF_CHECK_EQUAL(unknown.out, "");
  auto bare = test::run_cli({"--dsn", dsn, "cancel"});
  CAF_CHECK_EQUAL(bare.exit_code, 2);
}

CAF_TEST_FIXTURE_SCOPE_END()

namespace {

/// Two real nodes with slow batches, a webhook receiver, continuations to a queue no
/// node consumes (so they stay countable).
struct nodes_fixture {
  std::string dsn = test::create_migrated_database("cancel_nodes");
  std::string dir = test::make_temp_dir("cancel");
  test::webhook_receiver hooks;
  std::string topology = test::write_file(dir + "/topology.yaml", R"(cluster: cancel
database: { dsn: "${POSTBOX_DSN}" }
queues:
  orchestrator: { visibility_timeout: 5s, poll_interval: 100ms }
  file_batch:   { visibility_timeout: 5s, claim_batch: 1, poll_interval: 100ms }
  callback:     { visibility_timeout: 5s, poll_interval: 100ms }
workflows:
  slow: { processor: chaos, batch_size: 2, options: { sleep_ms: 400 } }
webhooks: { url: ")" + hooks.url() + R"(" }
reaper: { interval: 1s, stuck_after: 2m }
nodes:
  n1: { control_port: 4811, actors: [ { role: orchestrator }, { role: file_batch, concurrency: 2 }, { role: callback }, { role: reaper }, { role: outbox } ] }
  n2: { control_port: 4812, actors: [ { role: orchestrator }, { role: file_batch, concurrency: 2 }, { role: callback }, { role: reaper }, { role: outbox } ] }
)");

  std::unique_ptr<test::node_process> node(const std::string& name) {
    auto n = std::make_unique<test::node_process>(topology, name, dsn);
    if (!n->start()) CAF_FAIL("cannot start node " << name);
    return n;
  }
  long long n(const std::string& sql) const { return test::count(dsn, sql); }
};

}  // namespace

CAF_TEST_FIXTURE_SCOPE(cancel_node_tests, nodes_fixture)

CAF_TEST(a cancel mid run on two nodes stops every effect of batches in flight) {
  for (int i = 0; i < 40; ++i)
    test::write_file(dir + "/in/f" + std::to_string(i), "x" + std::to_string(i));
  client c{dsn};
  submit_request req;
  req.workflow = "slow";
  req.paths = {dir + "/in"};
  req.headers =
      R"({"on_error": {"queue": "cancelled_hooks", "type": "notify", "payload": {"t": 1}}})";
  auto sub = c.submit(req);
  CAF_REQUIRE(sub);
  const std::string id = sub->execution_id;
  auto n1 = node("n1");
  auto n2 = node("n2");
  auto of = [&](const std::string& table, const std::string& column) {
    return n("SELECT count(*) FROM postbox." + table + " WHERE " + column + " = '" + id + "'");
  };
  // Batches in flight on both nodes (four workers, 800 ms a batch).
  CAF_REQUIRE(test::wait_until([&] { return of("file_results", "execution_id") >= 4; }, 30s));
  auto out = test::run_cli({"--dsn", dsn, "--json", "cancel", id});
  CAF_REQUIRE_EQUAL(out.exit_code, 0);
  CAF_CHECK(contains(out.out, R"("cancelled":true)"));
  auto results_at_cancel = of("file_results", "execution_id");
  auto arrivals_of = [&](const std::string& status) {
    return n("SELECT count(*) FROM postbox.barrier_arrivals WHERE group_id = '" + id +
             "' AND status = '" + status + "'");
  };
  auto ok_arrivals_at_cancel = arrivals_of("ok");
  CAF_CHECK_LESS(results_at_cancel, 40);
  CAF_CHECK_EQUAL(
      test::scalar(dsn, "SELECT status FROM postbox.executions WHERE id = '" + id + "'"),
      "STOPPED");
  // Every message of the execution is handled (acked without effect)...
  CAF_CHECK(test::wait_until(
      [&] {
        return n("SELECT count(*) FROM postbox.mailbox WHERE execution_id = '" + id +
                 "' AND queue <> 'cancelled_hooks'") == 0;
      },
      30s));
  // ... and nothing of it committed after the cancel.
  CAF_CHECK_EQUAL(of("file_results", "execution_id"), results_at_cancel);
  CAF_CHECK_EQUAL(arrivals_of("ok"), ok_arrivals_at_cancel);
  CAF_CHECK_EQUAL(arrivals_of("ok") + arrivals_of("error"), 20);  // every batch arrived
  CAF_CHECK_EQUAL(
      n("SELECT files_done + files_failed FROM postbox.executions WHERE id = '" + id + "'"),
      results_at_cancel);
  CAF_CHECK_EQUAL(
      test::scalar(dsn, "SELECT status FROM postbox.executions WHERE id = '" + id + "'"),
      "STOPPED");
  CAF_CHECK(test::wait_until([&] { return hooks.posts(id + ":STOPPED") >= 1; }, 20s));
  CAF_CHECK_EQUAL(hooks.posts(id + ":STOPPED"), 1);
  CAF_CHECK_EQUAL(hooks.posts(id + ":COMPLETED"), 0);
  CAF_CHECK_EQUAL(
      n("SELECT count(*) FROM postbox.outbox WHERE kind = 'webhook' AND execution_id = '" + id +
        "'"),
      1);
  CAF_CHECK_EQUAL(n("SELECT count(*) FROM postbox.mailbox WHERE queue = 'cancelled_hooks' AND "
                    "payload->>'execution_id' = '" +
                    id + "' AND payload->>'error' = 'cancelled' AND payload->>'t' = '1'"),
                  1);
  CAF_CHECK_EQUAL(n("SELECT count(*) FROM postbox.mailbox WHERE queue = 'cancelled_hooks'"), 1);
  CAF_CHECK_EQUAL(n("SELECT count(*) FROM postbox.dead_letters"), 0);
}

CAF_TEST_FIXTURE_SCOPE_END()

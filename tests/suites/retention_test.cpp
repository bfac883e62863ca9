// Retention: the reaper's leader prunes terminal executions with everything they own,
// fired groups of no execution, dead letters and delivered outbox rows past their
// retention, in bounded statements — and never touches what live work still needs,
// also while it runs (an open group, oban#722).
#define CAF_SUITE retention
#include <caf/test/unit_test.hpp>
#include <chrono>
#include <csignal>
#include <thread>

#include "actors/maintenance/reaper.hpp"
#include "client/client.hpp"
#include "support/node_process.hpp"
#include "support/pg_fixture.hpp"
#include "support/values.hpp"

using namespace postbox;
using postbox::test::value_of;
using namespace std::chrono_literals;

namespace {

struct fixture {
  std::string dsn = test::create_migrated_database("retention");
  pg_session session{{dsn, "retention-test"}};

  long long n(const std::string& sql) { return test::count(dsn, sql); }

  /// An execution with `files` results, a blob, its group (arrivals, one per result),
  /// a claim and a delivered webhook, finished `age` ago in `status`.
  void execution(const std::string& id, const std::string& status, const std::string& age,
                 int files = 3, bool group_fired = true) {
    const std::string finished = status == "EXECUTING" ? "NULL" : "now() - interval '" + age + "'";
    test::exec(dsn,
               "INSERT INTO postbox.executions (id, workflow, status, files_total, "
               "created_at, finished_at) VALUES ('" +
                   id + "', 'docs', '" + status + "', " + std::to_string(files) +
                   ", now() - interval '" + age + "' - interval '1 hour', " + finished + ")");
    test::exec(dsn,
               "INSERT INTO postbox.file_results (execution_id, file_key, batch_index, "
               "status) SELECT '" +
                   id + "', 'f' || i, i, 'done' FROM generate_series(1, " + std::to_string(files) +
                   ") i");
    test::exec(dsn,
               "INSERT INTO postbox.blobs (id, name, size, sha256, content, execution_id) "
               "VALUES ('blob-" +
                   id + "', 'a.txt', 1, 'x', '\\x41', '" + id + "')");
    test::exec(dsn,
               "INSERT INTO postbox.barriers (group_id, execution_id, expected, remaining, "
               "fired_at) VALUES ('" +
                   id + "', '" + id + "', " + std::to_string(files) + ", " +
                   (group_fired ? "0" : "1") + ", " +
                   (group_fired ? finished : std::string("NULL")) + ")");
    test::exec(dsn, "INSERT INTO postbox.barrier_arrivals (group_id, child_index) SELECT '" + id +
                        "', i FROM generate_series(1, " +
                        std::to_string(group_fired ? files : files - 1) + ") i");
    test::exec(dsn, "INSERT INTO postbox.claims (execution_id, owner, state) VALUES ('" + id +
                        "', 'n', '" + (status == "EXECUTING" ? "active" : "tombstone") + "')");
    if (status != "EXECUTING")
      test::exec(dsn,
                 "INSERT INTO postbox.outbox (execution_id, kind, payload, state, "
                 "delivered_at) VALUES ('" +
                     id + "', 'webhook', '{}', 'delivered', now()), ('" + id +
                     "', 'usage', '{}', 'pending', NULL)");
  }

  /// Rows of execution `id` in every table it owns rows in.
  long long owned(const std::string& id) {
    return n("SELECT (SELECT count(*) FROM postbox.executions WHERE id = '" + id +
             "') + (SELECT count(*) FROM postbox.file_results WHERE execution_id = '" + id +
             "') + (SELECT count(*) FROM postbox.blobs WHERE execution_id = '" + id +
             "') + (SELECT count(*) FROM postbox.barriers WHERE execution_id = '" + id +
             "') + (SELECT count(*) FROM postbox.barrier_arrivals WHERE group_id = '" + id +
             "') + (SELECT count(*) FROM postbox.claims WHERE execution_id = '" + id + "')");
  }

  reaper_settings settings(int batch = 1000) {
    reaper_settings s;
    s.completed_retention = std::chrono::hours(24 * 7);
    s.failed_retention = std::chrono::hours(24 * 30);
    s.tombstone_retention = std::chrono::hours(24 * 365 * 10);  // claims go with executions
    s.prune_batch = batch;
    return s;
  }
};

}  // namespace

CAF_TEST_FIXTURE_SCOPE(retention_tests, fixture)

CAF_TEST(every kind past its retention is pruned and live rows are untouched) {
  execution("done-old", "COMPLETED", "8 days");
  execution("done-new", "COMPLETED", "1 day");
  execution("error-old", "ERROR", "31 days");
  execution("error-new", "ERROR", "8 days");
  execution("stopped-old", "STOPPED", "31 days");
  // Started 60 days ago and still running, its group open: needed, whatever its age.
  execution("running", "EXECUTING", "60 days", 3, false);
  // Groups of no execution: one fired long ago, one open since long ago.
  test::exec(dsn,
             "INSERT INTO postbox.barriers (group_id, expected, remaining, armed_at, "
             "fired_at) VALUES ('g-old', 2, 0, now() - interval '9 days', now() - interval "
             "'8 days'), ('g-open', 2, 1, now() - interval '60 days', NULL)");
  test::exec(dsn,
             "INSERT INTO postbox.barrier_arrivals (group_id, child_index) VALUES "
             "('g-old', 0), ('g-old', 1), ('g-open', 0)");
  const long long before_running = owned("running");
  const long long before_new = owned("done-new") + owned("error-new");
  CAF_REQUIRE_EQUAL(before_running, 1 + 3 + 1 + 1 + 2 + 1);

  reaper r{session, settings(), "node-a"};
  auto c = value_of(r.run_once());
  CAF_CHECK(c.leader);
  CAF_CHECK_EQUAL(c.executions_pruned, 3);
  CAF_CHECK_EQUAL(owned("done-old"), 0);
  CAF_CHECK_EQUAL(owned("error-old"), 0);
  CAF_CHECK_EQUAL(owned("stopped-old"), 0);
  CAF_CHECK_EQUAL(owned("running"), before_running);
  CAF_CHECK_EQUAL(owned("done-new") + owned("error-new"), before_new);
  // A pruned execution's pending usage record still goes out; its delivered webhook goes.
  CAF_CHECK_EQUAL(n("SELECT count(*) FROM postbox.outbox WHERE execution_id = 'done-old'"), 1);
  CAF_CHECK_EQUAL(n("SELECT count(*) FROM postbox.outbox WHERE execution_id = 'done-old' AND "
                    "state = 'pending'"),
                  1);
  CAF_CHECK_EQUAL(n("SELECT count(*) FROM postbox.barriers WHERE group_id = 'g-old'"), 0);
  CAF_CHECK_EQUAL(n("SELECT count(*) FROM postbox.barrier_arrivals WHERE group_id = 'g-old'"), 0);
  CAF_CHECK_EQUAL(n("SELECT count(*) FROM postbox.barriers WHERE group_id = 'g-open'"), 1);
  CAF_CHECK_EQUAL(n("SELECT count(*) FROM postbox.barrier_arrivals WHERE group_id = 'g-open'"), 1);
  CAF_CHECK(c.max_rows_per_statement <= 1000);
  // Nothing is left to prune: a second sweep deletes nothing.
  auto again = value_of(r.run_once());
  CAF_CHECK_EQUAL(again.rows_pruned, 0);
  CAF_CHECK_EQUAL(owned("running"), before_running);
}

CAF_TEST(a prune of 100000 rows runs in bounded statements) {
  execution("big", "COMPLETED", "8 days", 100000);
  reaper r{session, settings(1000), "node-a"};
  const auto t0 = std::chrono::steady_clock::now();
  auto c = value_of(r.run_once());
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  CAF_MESSAGE("pruned " << c.rows_pruned << " rows in " << c.prune_statements
                        << " statements, at most " << c.max_rows_per_statement << " a statement, "
                        << secs << " s (" << static_cast<long long>(c.rows_pruned / secs)
                        << " rows/s)");
  CAF_CHECK_EQUAL(owned("big"), 0);
  CAF_CHECK(c.rows_pruned >= 200000);  // results and arrivals
  CAF_CHECK(c.max_rows_per_statement <= 1000);
  CAF_CHECK(c.prune_statements >= 200);
  CAF_CHECK_EQUAL(c.executions_pruned, 1);
}

CAF_TEST(pruning every terminal execution at once leaves running ones correct) {
  // Retention 1ms: every execution is pruned as soon as it is terminal, while a long one
  // runs beside them with its group open. The long one must still end COMPLETED with
  // every file counted and one webhook, and the short ones must each send one webhook.
  const std::string dir = test::make_temp_dir("retention");
  test::webhook_receiver hooks;
  const std::string topo = test::write_file(dir + "/topology.yaml", R"(cluster: retention
database: { dsn: "${POSTBOX_DSN}" }
queues:
  orchestrator: { visibility_timeout: 2s, poll_interval: 200ms }
  file_batch:   { visibility_timeout: 2s, claim_batch: 2, poll_interval: 200ms }
  callback:     { visibility_timeout: 2s, poll_interval: 200ms }
workflows:
  slow:  { processor: chaos, batch_size: 2, options: { sleep_ms: 100 } }
  quick: { processor: checksum, batch_size: 5 }
webhooks: { url: ")" + hooks.url() + R"(" }
reaper: { interval: 200ms, stuck_after: 2m }
retention: { completed: 1ms, failed: 1ms, batch: 7 }
nodes:
  a: { actors: [ { role: orchestrator }, { role: file_batch, concurrency: 2 }, { role: callback }, { role: reaper }, { role: outbox } ] }
)");
  auto node = std::make_unique<test::node_process>(topo, "a", dsn);
  CAF_REQUIRE(node->start());
  client cl{dsn};
  auto submit = [&](const std::string& workflow, int files) {
    const std::string in = dir + "/" + workflow + std::to_string(files);
    for (int i = 0; i < files; ++i) test::write_file(in + "/f" + std::to_string(i), "x");
    submit_request req;
    req.workflow = workflow;
    req.paths = {in};
    return value_of(cl.submit(req)).execution_id;
  };
  const std::string slow = submit("slow", 40);
  std::vector<std::string> quick;
  for (int i = 0; i < 8; ++i) quick.push_back(submit("quick", 5 + i));
  CAF_REQUIRE(test::wait_until([&] { return hooks.total_posts() >= 9; }, 120s, 100ms));
  CAF_CHECK(test::wait_until([&] { return n("SELECT count(*) FROM postbox.executions") == 0; }, 20s,
                             100ms));
  CAF_CHECK_EQUAL(hooks.total_posts(), 9);
  CAF_CHECK_EQUAL(hooks.posts(slow + ":COMPLETED"), 1);
  for (const auto& id : quick) CAF_CHECK_EQUAL(hooks.posts(id + ":COMPLETED"), 1);
  bool slow_counted = false;
  for (const auto& body : hooks.bodies())
    if (body.find(slow) != std::string::npos)
      slow_counted = body.find("\"files_done\":40") != std::string::npos ||
                     body.find("\"files_done\": 40") != std::string::npos;
  CAF_CHECK(slow_counted);
  // Nothing of them is left, and nothing waits in the mailbox.
  CAF_CHECK_EQUAL(n("SELECT count(*) FROM postbox.file_results"), 0);
  CAF_CHECK_EQUAL(n("SELECT count(*) FROM postbox.barriers"), 0);
  CAF_CHECK_EQUAL(n("SELECT count(*) FROM postbox.barrier_arrivals"), 0);
  CAF_CHECK_EQUAL(n("SELECT count(*) FROM postbox.mailbox"), 0);
  CAF_CHECK_EQUAL(n("SELECT count(*) FROM postbox.dead_letters"), 0);
  node->signal(SIGTERM);
  CAF_CHECK_EQUAL(node->wait_exit(20s), 0);
}

CAF_TEST_FIXTURE_SCOPE_END()

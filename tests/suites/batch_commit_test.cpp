// A node killed in the middle of its batches' commits: every batch's results, its
// arrival and its ack commit in one transaction, so whatever the server makes of a
// commit its client died in (commits it, or rolls it back), every file result exists
// once, every arrival counts once on the (sharded) barrier, and the execution
// completes once with one webhook. The commits are held at COMMIT by a deferred
// trigger that waits for an advisory lock the test holds, so the kill lands there.
// Each worker commits its own batch here (group_commit: false); the same kill during a
// group commit of several deliveries is group_commit_test's.
#define CAF_SUITE batch_commit
#include <caf/test/unit_test.hpp>
#include <csignal>
#include <memory>

#include "client/client.hpp"
#include "persistence/pg_session.hpp"
#include "persistence/user_sql.hpp"
#include "support/node_process.hpp"
#include "support/pg_fixture.hpp"

using namespace postbox;
using namespace std::chrono_literals;

namespace {

struct fixture {
  std::string dsn = test::create_migrated_database("batch_commit");
  std::string dir = test::make_temp_dir("batch_commit");
  test::webhook_receiver hooks;
  std::string topology = test::write_file(dir + "/topology.yaml", R"(cluster: commit
database: { dsn: "${POSTBOX_DSN}", group_commit: false }
queues:
  orchestrator: { visibility_timeout: 2s, poll_interval: 200ms }
  file_batch:   { visibility_timeout: 2s, claim_batch: 2, poll_interval: 200ms }
  callback:     { visibility_timeout: 2s, poll_interval: 200ms }
workflows:
  sums: { processor: checksum, batch_size: 2 }
webhooks: { url: ")" + hooks.url() + R"(" }
reaper: { interval: 1s, stuck_after: 2m }
nodes:
  n1: { actors: [ { role: orchestrator }, { role: file_batch, concurrency: 2 }, { role: callback }, { role: outbox } ] }
  n2: { actors: [ { role: orchestrator }, { role: file_batch, concurrency: 2 }, { role: callback }, { role: outbox }, { role: reaper } ] }
)");

  std::unique_ptr<test::node_process> node(const std::string& name) {
    auto n = std::make_unique<test::node_process>(topology, name, dsn);
    if (!n->start()) CAF_FAIL("cannot start node " << name);
    return n;
  }

  std::string submit(const std::string& name, int files) {
    for (int i = 0; i < files; ++i)
      test::write_file(dir + "/" + name + "/f" + std::to_string(i), name + std::to_string(i));
    client c{dsn};
    submit_request req;
    req.workflow = "sums";
    req.paths = {dir + "/" + name};
    auto sub = c.submit(req);
    if (!sub) CAF_FAIL("submit: " << describe(sub.error()));
    return sub->execution_id;
  }

  int64_t n(const std::string& sql) { return test::count(dsn, sql); }

  std::string status(const std::string& id) {
    return test::scalar(dsn, "SELECT status FROM postbox.executions WHERE id = '" + id + "'");
  }
};

// Node n1's file_batch commits wait at COMMIT (a deferred constraint trigger runs
// there) until the test releases advisory lock 4242; other sessions pass.
const char* hold_commits_sql = R"(
CREATE FUNCTION public.hold_commit() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF current_setting('application_name') LIKE 'postbox-n1/file_batch%' THEN
    PERFORM pg_advisory_lock_shared(4242);
    PERFORM pg_advisory_unlock_shared(4242);
  END IF;
  RETURN NULL;
END $$;
CREATE CONSTRAINT TRIGGER hold_commit AFTER INSERT ON postbox.file_results
  DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION public.hold_commit();
)";

}  // namespace

CAF_TEST_FIXTURE_SCOPE(batch_commit_tests, fixture)

CAF_TEST(a node killed in the middle of batch commits leaves every result once) {
  pg_session admin{{dsn, "test-admin"}};
  CAF_REQUIRE(!admin.execute_script(hold_commits_sql));
  // The lock the held commits wait for: taken on a session of its own, kept.
  pg_session holder{{dsn, "test-holder"}};
  CAF_REQUIRE(!holder.execute_script("SELECT pg_advisory_lock(4242)"));

  auto n1 = node("n1");
  // 160 files in batches of 2: 80 children, a group counted on shards; 30 more in a
  // small group on its own row, in flight at the same time.
  auto big = submit("big", 160);
  auto small = submit("small", 30);
  // Both of n1's workers stuck inside COMMIT, each holding a finished batch.
  auto in_commit = [&] {
    return n(
        "SELECT count(*) FROM pg_stat_activity WHERE application_name LIKE "
        "'postbox-n1/file_batch%' AND wait_event = 'advisory' AND query = 'COMMIT'");
  };
  CAF_REQUIRE(test::wait_until([&] { return in_commit() == 2; }, 20s));
  CAF_CHECK_EQUAL(n("SELECT count(*) FROM postbox.file_results"), 0);
  n1->signal(SIGKILL);
  CAF_CHECK_EQUAL(n1->wait_exit(5s), 128 + SIGKILL);
  // One held commit is rolled back (its backend terminated inside COMMIT), the other
  // goes through with no client to tell: the first batch is redone, the second not.
  auto victim = test::scalar(
      dsn,
      "SELECT pid FROM pg_stat_activity WHERE application_name LIKE 'postbox-n1/file_batch%' "
      "AND wait_event = 'advisory' ORDER BY pid LIMIT 1");
  CAF_REQUIRE(!victim.empty());
  CAF_CHECK_EQUAL(test::scalar(dsn, "SELECT pg_terminate_backend(" + victim + ")"), "t");
  CAF_REQUIRE(test::wait_until([&] { return in_commit() == 1; }, 10s));
  CAF_REQUIRE(!holder.execute_script("SELECT pg_advisory_unlock(4242)"));
  CAF_REQUIRE(test::wait_until([&] { return in_commit() == 0; }, 10s));
  auto committed = n("SELECT count(*) FROM postbox.file_results");
  CAF_CHECK_EQUAL(committed, 2);  // the batch whose commit went through
  CAF_CHECK_EQUAL(n("SELECT count(*) FROM postbox.barrier_arrivals"), 1);

  auto n2 = node("n2");
  CAF_CHECK(test::wait_until(
      [&] { return status(big) == "COMPLETED" && status(small) == "COMPLETED"; }, 60s, 200ms));
  for (auto [id, files, batches] : {std::tuple{big, 160, 80}, std::tuple{small, 30, 15}}) {
    auto where = " WHERE execution_id = '" + id + "'";
    CAF_CHECK_EQUAL(n("SELECT count(*) FROM postbox.file_results" + where), files);
    CAF_CHECK_EQUAL(n("SELECT count(DISTINCT file_key) FROM postbox.file_results" + where), files);
    CAF_CHECK_EQUAL(n("SELECT files_done FROM postbox.executions WHERE id = '" + id + "'"), files);
    // Every batch arrived once, and the group fired once.
    CAF_CHECK_EQUAL(
        n("SELECT count(*) FROM postbox.barrier_arrivals WHERE group_id = '" + id + "'"), batches);
    CAF_CHECK_EQUAL(n("SELECT remaining FROM postbox.barriers WHERE group_id = '" + id + "'"), 0);
    CAF_CHECK_EQUAL(
        n("SELECT count(*) FROM postbox.barriers WHERE fired_at IS NOT NULL AND group_id = '" + id +
          "'"),
        1);
  }
  // The big group counted on shards, each to zero, each arrival once.
  CAF_CHECK_GREATER(n("SELECT shards FROM postbox.barriers WHERE group_id = '" + big + "'"), 0);
  CAF_CHECK_EQUAL(n("SELECT COALESCE(sum(expected - remaining), 0) FROM postbox.barrier_shards "
                    "WHERE group_id = '" +
                    big + "'"),
                  80);
  CAF_CHECK_EQUAL(n("SELECT count(*) FROM postbox.barrier_shards WHERE remaining <> 0"), 0);
  CAF_CHECK_EQUAL(n("SELECT count(*) FROM postbox.dead_letters"), 0);
  CAF_CHECK(test::wait_until([&] { return hooks.total_posts() >= 2; }, 15s));
  CAF_CHECK_EQUAL(hooks.posts(big + ":COMPLETED"), 1);
  CAF_CHECK_EQUAL(hooks.posts(small + ":COMPLETED"), 1);
  CAF_CHECK_EQUAL(hooks.total_posts(), 2);
}

CAF_TEST_FIXTURE_SCOPE_END()

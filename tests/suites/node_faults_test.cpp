// End to end with real postbox-node processes and real faults: kill -9 and
// restart, a handler that aborts its node every time, connections terminated
// under a running task, a task longer than its lease, and a node frozen with
// SIGSTOP (or killed) right after taking an orchestration claim.
#define CAF_SUITE node_faults
#include <caf/test/unit_test.hpp>
#include <csignal>
#include <fstream>
#include <random>

#include "messages/json_codec.hpp"
#include "messages/messages.hpp"
#include "persistence/units_of_work.hpp"
#include "support/executions.hpp"
#include "support/node_process.hpp"
#include "support/pg_fixture.hpp"

using namespace postbox;
using namespace std::chrono_literals;

namespace {

struct fixture {
  std::string dsn = test::create_migrated_database("nodes");
  std::string dir = test::make_temp_dir("nodes");
  test::webhook_receiver hooks;
  std::string topology;
  int submitted = 0;

  fixture() {
    topology = test::write_file(dir + "/topology.yaml",
                                R"(cluster: faults
database: { dsn: "${POSTBOX_DSN}" }
queues:
  orchestrator: { visibility_timeout: 2s, max_attempts: 3, poll_interval: 200ms }
  file_batch:   { visibility_timeout: 2s, max_attempts: 3, claim_batch: 4, poll_interval: 200ms }
  callback:     { visibility_timeout: 2s, max_attempts: 5, poll_interval: 200ms }
workflows:
  docs: { processor: checksum, batch_size: 2 }
  slow: { processor: chaos, batch_size: 2, options: { sleep_ms: 150 } }
  nap:  { processor: chaos, batch_size: 1, options: { sleep_ms: 1500 } }
  long:
    processor: exec
    batch_size: 1
    options: { argv: ["/bin/sh", "-c", 'echo run >> )" +
                                    dir + R"(/runs; sleep 6; printf "{}"'], timeout: 30s }
  boom: { processor: chaos, batch_size: 1, options: { abort_on: "*.boom" } }
webhooks: { url: ")" + hooks.url() + R"(", max_attempts: 10 }
reaper: { interval: 1s, stuck_after: 2m }
nodes:
  a:
    actors:
      - { role: orchestrator }
      - { role: file_batch, concurrency: 4 }
      - { role: callback }
      - { role: reaper }
      - { role: outbox }
  b:
    actors:
      - { role: orchestrator }
      - { role: file_batch, concurrency: 4 }
      - { role: callback }
      - { role: outbox }
)");
  }

  std::vector<std::string> make_files(const std::string& prefix, int n) {
    return test::make_files(dir, prefix, n);
  }

  std::string submit(const std::string& workflow, const std::vector<std::string>& files) {
    auto id = "exec-" + std::to_string(++submitted);
    test::submit_files(dsn, id, workflow, files);
    return id;
  }

  std::string status(const std::string& id) { return test::execution_status(dsn, id); }

  bool reaches(const std::string& id, const std::string& want, std::chrono::milliseconds d) {
    return test::wait_until([&] { return status(id) == want; }, d, 100ms);
  }

  long long count(const std::string& sql) { return test::count(dsn, sql); }

  long long results(const std::string& id) {
    return count("SELECT count(*) FROM postbox.file_results WHERE execution_id = '" + id + "'");
  }

  long long webhook_rows(const std::string& id) {
    return count("SELECT count(*) FROM postbox.outbox WHERE kind = 'webhook' AND execution_id = '" +
                 id + "'");
  }

  bool webhook_delivered(const std::string& id) { return test::webhook_delivered(dsn, id); }

  test::node_process node(const std::string& name, std::vector<std::string> env = {}) {
    return test::node_process(topology, name, dsn, std::move(env));
  }
};

}  // namespace

CAF_TEST_FIXTURE_SCOPE(node_fault_tests, fixture)

CAF_TEST(a node drains on sigterm and exits zero) {
  auto a = node("a");
  CAF_REQUIRE(a.start());
  auto id = submit("docs", make_files("d", 6));
  CAF_CHECK(reaches(id, "COMPLETED", 20s));
  CAF_CHECK(webhook_delivered(id));
  CAF_CHECK_EQUAL(hooks.posts(id + ":COMPLETED"), 1);
  CAF_CHECK(test::wait_until(
      [&] { return count("SELECT count(*) FROM postbox.nodes WHERE name = 'a'") == 1; }, 5s));
  a.signal(SIGTERM);
  CAF_CHECK_EQUAL(a.wait_exit(15s), 0);
}

CAF_TEST(kill - 9 mid execution then restart completes once) {
  auto a = node("a");
  CAF_REQUIRE(a.start());
  auto id = submit("slow", make_files("k", 40));
  CAF_REQUIRE(test::wait_until([&] { return results(id) >= 6; }, 20s));
  a.signal(SIGKILL);
  CAF_CHECK_EQUAL(a.wait_exit(5s), 128 + SIGKILL);
  CAF_REQUIRE(results(id) < 40);  // really mid-execution
  auto again = node("a");
  CAF_REQUIRE(again.start());
  CAF_CHECK(reaches(id, "COMPLETED", 40s));
  CAF_CHECK_EQUAL(results(id), 40);
  CAF_CHECK_EQUAL(count("SELECT files_done FROM postbox.executions WHERE id = '" + id + "'"), 40);
  CAF_CHECK_EQUAL(
      count("SELECT count(*) FROM postbox.barrier_arrivals WHERE group_id = '" + id + "'"), 20);
  CAF_CHECK_EQUAL(webhook_rows(id), 1);
  CAF_CHECK(webhook_delivered(id));
  CAF_CHECK_EQUAL(hooks.posts(id + ":COMPLETED"), 1);
  CAF_CHECK_EQUAL(count("SELECT count(*) FROM postbox.dead_letters"), 0);
}

CAF_TEST(a file that aborts its node every time ends dead lettered and the execution in error) {
  auto files = make_files("ok", 2);
  files.push_back(test::write_file(dir + "/in/x.boom", "boom\n"));
  auto id = submit("boom", files);
  int starts = 0;
  while (status(id) != "ERROR" && starts < 10) {
    auto a = node("a");
    CAF_REQUIRE(a.start());
    ++starts;
    // Either the node aborts on x.boom, or (past max_attempts) it poisons the batch.
    test::wait_until([&] { return !a.running() || status(id) == "ERROR"; }, 20s, 100ms);
    if (a.running() && status(id) == "ERROR") {
      CAF_CHECK(webhook_delivered(id));
      a.signal(SIGTERM);
      CAF_CHECK_EQUAL(a.wait_exit(15s), 0);
    } else {
      CAF_CHECK_EQUAL(a.wait_exit(5s), 128 + SIGABRT);
    }
  }
  CAF_MESSAGE("node started " << starts << " times");
  CAF_CHECK_EQUAL(status(id), "ERROR");
  CAF_CHECK_GREATER_OR_EQUAL(starts, 3);
  CAF_CHECK_EQUAL(count("SELECT count(*) FROM postbox.dead_letters WHERE execution_id = '" + id +
                        "' AND payload::text LIKE '%x.boom%' AND reason LIKE '%max_attempts%'"),
                  1);
  CAF_CHECK_EQUAL(webhook_rows(id), 1);
  CAF_CHECK_EQUAL(hooks.posts(id + ":ERROR"), 1);
  CAF_CHECK(test::scalar(dsn, "SELECT error FROM postbox.executions WHERE id = '" + id + "'")
                .find("max_attempts") != std::string::npos);
  // Nothing stranded: no message of the execution is left, nothing will come back.
  CAF_CHECK_EQUAL(count("SELECT count(*) FROM postbox.mailbox WHERE execution_id = '" + id + "'"),
                  0);
}

CAF_TEST(terminated connections under a running task still ack once) {
  auto a = node("a");
  CAF_REQUIRE(a.start());
  auto id = submit("nap", make_files("n", 2));
  CAF_REQUIRE(test::wait_until(
      [&] {
        return count(
                   "SELECT count(*) FROM postbox.mailbox WHERE queue = 'file_batch' AND "
                   "read_ct >= 1 AND execution_id = '" +
                   id + "'") == 2;
      },
      15s, 20ms));
  auto killed = count(
      "SELECT count(*) FILTER (WHERE pg_terminate_backend(pid)) FROM pg_stat_activity "
      "WHERE application_name LIKE 'postbox-a/%' AND datname = current_database()");
  CAF_MESSAGE(killed << " backends of node a terminated");
  CAF_CHECK_GREATER_OR_EQUAL(killed, 3);
  CAF_CHECK(reaches(id, "COMPLETED", 30s));
  CAF_CHECK_EQUAL(results(id), 2);
  CAF_CHECK_EQUAL(count("SELECT count(*) FROM postbox.barriers WHERE fired_at IS NOT NULL AND "
                        "execution_id = '" +
                        id + "'"),
                  1);
  CAF_CHECK_EQUAL(webhook_rows(id), 1);
  CAF_CHECK(webhook_delivered(id));
  CAF_CHECK_EQUAL(hooks.posts(id + ":COMPLETED"), 1);
  CAF_CHECK_EQUAL(count("SELECT count(*) FROM postbox.dead_letters"), 0);
}

CAF_TEST(a task three times longer than its lease is never redelivered) {
  auto a = node("a");
  auto b = node("b");  // a competitor that would take an expired lease
  CAF_REQUIRE(a.start());
  CAF_REQUIRE(b.start());
  auto id = submit("long", make_files("l", 1));
  CAF_CHECK(reaches(id, "COMPLETED", 30s));
  std::ifstream runs(dir + "/runs");
  int lines = 0;
  for (std::string line; std::getline(runs, line);) ++lines;
  CAF_CHECK_EQUAL(lines, 1);  // the processor ran once: the lease was renewed, never lost
  CAF_CHECK_EQUAL(results(id), 1);
  CAF_CHECK(webhook_delivered(id));
  CAF_CHECK_EQUAL(hooks.posts(id + ":COMPLETED"), 1);
}

CAF_TEST(a node frozen after taking the claim changes nothing when it thaws) {
  auto a = node("a", {"POSTBOX_TEST_STOP_AFTER_CLAIM=1"});
  CAF_REQUIRE(a.start());
  auto id = submit("docs", make_files("f", 6));
  CAF_REQUIRE(test::wait_until([&] { return a.stopped(); }, 15s, 20ms));
  CAF_CHECK_EQUAL(status(id), "QUEUED");
  // The server ends the frozen session (idle in transaction); its lease expires;
  // node b's redelivery takes the claim (a's was rolled back with it) and completes it.
  auto b = node("b");
  CAF_REQUIRE(b.start());
  CAF_CHECK(reaches(id, "COMPLETED", 30s));
  a.signal(SIGCONT);
  CAF_CHECK(test::wait_until([&] { return a.log().find("lease_lost") != std::string::npos; }, 15s,
                             100ms));
  CAF_CHECK_EQUAL(count("SELECT count(*) FROM postbox.barriers WHERE execution_id = '" + id + "'"),
                  1);
  CAF_CHECK_EQUAL(
      count("SELECT count(*) FROM postbox.barrier_arrivals WHERE group_id = '" + id + "'"), 3);
  CAF_CHECK_EQUAL(results(id), 6);
  CAF_CHECK_EQUAL(count("SELECT count(*) FROM postbox.mailbox WHERE execution_id = '" + id + "'"),
                  0);
  CAF_CHECK_EQUAL(webhook_rows(id), 1);
  CAF_CHECK(webhook_delivered(id));
  CAF_CHECK_EQUAL(hooks.posts(id + ":COMPLETED"), 1);
  // The claim ended as a tombstone of node b's delivery, not the frozen one's.
  CAF_CHECK_EQUAL(test::scalar(dsn,
                               "SELECT state || ':' || split_part(owner, '/', 1) FROM "
                               "postbox.claims WHERE execution_id = '" +
                                   id + "'"),
                  "tombstone:b");
}

CAF_TEST(a node killed after taking the claim is replaced by its restart) {
  auto a = node("a", {"POSTBOX_TEST_STOP_AFTER_CLAIM=1"});
  CAF_REQUIRE(a.start());
  auto id = submit("docs", make_files("g", 4));
  CAF_REQUIRE(test::wait_until([&] { return a.stopped(); }, 15s, 20ms));
  a.signal(SIGKILL);
  CAF_CHECK_EQUAL(a.wait_exit(5s), 128 + SIGKILL);
  auto again = node("a");
  CAF_REQUIRE(again.start());
  CAF_CHECK(reaches(id, "COMPLETED", 30s));
  CAF_CHECK_EQUAL(
      count("SELECT count(*) FROM postbox.barrier_arrivals WHERE group_id = '" + id + "'"), 2);
  CAF_CHECK_EQUAL(results(id), 4);
  CAF_CHECK(webhook_delivered(id));
  CAF_CHECK_EQUAL(hooks.posts(id + ":COMPLETED"), 1);
}

CAF_TEST(the orchestrator connection terminated mid transaction is retried once) {
  auto a = node("a", {"POSTBOX_TEST_STOP_AFTER_CLAIM=1"});
  CAF_REQUIRE(a.start());
  auto id = submit("docs", make_files("o", 4));
  CAF_REQUIRE(test::wait_until([&] { return a.stopped(); }, 15s, 20ms));
  // The orchestrator's success commits on the node's group committer's connection.
  CAF_CHECK_EQUAL(test::scalar(dsn,
                               "SELECT count(*) FILTER (WHERE pg_terminate_backend(pid)) FROM "
                               "pg_stat_activity WHERE application_name LIKE 'postbox-a/commit/%' "
                               "AND state = 'idle in transaction'"),
                  "1");
  a.signal(SIGCONT);
  CAF_CHECK(reaches(id, "COMPLETED", 30s));
  CAF_CHECK_EQUAL(count("SELECT count(*) FROM postbox.barriers WHERE execution_id = '" + id + "'"),
                  1);
  CAF_CHECK_EQUAL(results(id), 4);
  CAF_CHECK(webhook_delivered(id));
  CAF_CHECK_EQUAL(hooks.posts(id + ":COMPLETED"), 1);
}

CAF_TEST_FIXTURE_SCOPE_END()

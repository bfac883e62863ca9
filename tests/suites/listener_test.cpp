// Consumers wake on NOTIFY: with a 30 s poll interval an execution still runs
// in about a second, and after the LISTEN connection is killed the listener
// comes back by itself (Oban's queues that never re-subscribed: oban#1499).
#define CAF_SUITE listener
#include <caf/test/unit_test.hpp>
#include <csignal>

#include "client/client.hpp"
#include "support/node_process.hpp"
#include "support/pg_fixture.hpp"

using namespace postbox;
using namespace std::chrono_literals;

CAF_TEST(notify wakes consumers and the listener reconnects) {
  auto dsn = test::create_migrated_database("listen");
  auto dir = test::make_temp_dir("listen");
  auto topology = test::write_file(dir + "/topology.yaml", R"(database: { dsn: "${POSTBOX_DSN}" }
queues:
  orchestrator: { poll_interval: 30s }
  file_batch:   { poll_interval: 30s }
  callback:     { poll_interval: 30s }
workflows:
  docs: { processor: checksum, batch_size: 2 }
nodes:
  a: { actors: [ { role: orchestrator }, { role: file_batch, concurrency: 2 }, { role: callback } ] }
)");
  test::node_process a(topology, "a", dsn);
  CAF_REQUIRE(a.start());
  // Let every consumer finish its first (empty) poll: from now on only NOTIFY wakes it.
  CAF_REQUIRE(test::wait_until(
      [&] {
        return test::count(dsn,
                           "SELECT count(*) FROM pg_stat_activity WHERE application_name = "
                           "'postbox-listener' AND datname = current_database() AND state = "
                           "'idle' AND (query ILIKE 'listen%' OR query = 'SELECT 1')") == 1;
      },
      10s, 50ms));
  std::this_thread::sleep_for(500ms);  // past the consumers' first poll; nothing to await
  for (int i = 0; i < 4; ++i) test::write_file(dir + "/in/f" + std::to_string(i), "x");
  client c{dsn};
  submit_request req;
  req.workflow = "docs";
  req.paths = {dir + "/in"};
  auto first = c.submit(req);
  CAF_REQUIRE(first);
  auto done = c.wait(first->execution_id, {}, 50ms, 10s);  // polling alone would take 90 s
  CAF_REQUIRE(done);
  CAF_CHECK_EQUAL(to_string(done->status), std::string("COMPLETED"));

  auto listener_pid = [&] {
    return test::scalar(dsn,
                        "SELECT pid FROM pg_stat_activity WHERE application_name = "
                        "'postbox-listener' AND datname = current_database()");
  };
  auto old_pid = listener_pid();
  CAF_REQUIRE_EQUAL(test::terminate_backends(dsn, "postbox-listener"), 1);
  CAF_CHECK(test::wait_until([&] { return a.log().find("polling meanwhile") != std::string::npos; },
                             10s, 50ms));
  // A new listener backend that has issued its LISTEN (its last statement, or the
  // liveness probe that only follows it).
  CAF_REQUIRE(test::wait_until(
      [&] {
        return test::count(dsn,
                           "SELECT count(*) FROM pg_stat_activity WHERE application_name = "
                           "'postbox-listener' AND datname = current_database() AND pid <> " +
                               old_pid +
                               " AND state = 'idle' AND (query ILIKE 'listen%' OR query = "
                               "'SELECT 1')") == 1;
      },
      10s, 50ms));
  auto second = c.submit(req);
  CAF_REQUIRE(second);
  auto again = c.wait(second->execution_id, {}, 50ms, 10s);
  CAF_REQUIRE(again);
  CAF_CHECK_EQUAL(to_string(again->status), std::string("COMPLETED"));
  a.signal(SIGTERM);
  CAF_CHECK_EQUAL(a.wait_exit(15s), 0);
}

// A URI DSN (postgresql://user@host:port/db) used to make the listener connect to a
// database named "db application_name=postbox-listener": LISTEN never worked and nodes
// only polled. With a 20 s poll a one-batch execution must still finish in under 2 s,
// before and after the LISTEN backend is terminated.
CAF_TEST(a node on a uri dsn wakes on notify and after its listen backend is terminated) {
  auto dsn = test::as_uri(test::create_migrated_database("listen_uri"));
  CAF_REQUIRE(dsn.rfind("postgresql://", 0) == 0);
  auto dir = test::make_temp_dir("listen_uri");
  auto topology = test::write_file(dir + "/topology.yaml", R"(database: { dsn: "${POSTBOX_DSN}" }
queues:
  orchestrator: { poll_interval: 20s }
  file_batch:   { poll_interval: 20s }
  callback:     { poll_interval: 20s }
workflows:
  docs: { processor: checksum, batch_size: 10 }
nodes:
  a: { actors: [ { role: orchestrator }, { role: file_batch }, { role: callback } ] }
)");
  test::node_process a(topology, "a", dsn);
  CAF_REQUIRE(a.start());
  auto listening = [&](const std::string& not_pid) {
    return test::count(dsn,
                       "SELECT count(*) FROM pg_stat_activity WHERE application_name = "
                       "'postbox-listener' AND datname = current_database() AND pid <> " +
                           not_pid +
                           " AND state = 'idle' AND (query ILIKE 'listen%' OR query = "
                           "'SELECT 1')") == 1;
  };
  CAF_CHECK(test::wait_until([&] { return listening("0"); }, 10s, 50ms));
  // Every consumer (one per queue) has finished its first claim (mailbox_read.sql,
  // matched by its first line: the text shown is cut at 1 KB): from now on only
  // NOTIFY wakes it before its 20 s poll.
  CAF_CHECK(test::wait_until(
      [&] {
        return test::count(dsn,
                           "SELECT count(DISTINCT application_name) FROM pg_stat_activity WHERE "
                           "datname = current_database() AND state = 'idle' AND query ILIKE "
                           "'-- The claim: lock up to%'") >= 3;
      },
      10s, 50ms));
  for (int i = 0; i < 2; ++i) test::write_file(dir + "/in/f" + std::to_string(i), "x");
  client c{dsn};
  submit_request req;
  req.workflow = "docs";
  req.paths = {dir + "/in"};
  auto run_one = [&](const char* what, std::chrono::milliseconds deadline) {
    auto started = std::chrono::steady_clock::now();
    auto sub = c.submit(req);
    CAF_REQUIRE(sub);
    auto done = c.wait(sub->execution_id, {}, 20ms, deadline);
    auto took = std::chrono::steady_clock::now() - started;
    CAF_MESSAGE(what << ": " << std::chrono::duration_cast<std::chrono::milliseconds>(took).count()
                     << " ms");
    CAF_REQUIRE(done);
    CAF_CHECK_EQUAL(to_string(done->status), std::string("COMPLETED"));
    CAF_CHECK_EQUAL(done->files_done, 2);
    CAF_CHECK(took < deadline);
  };
  // The first execution also opens and prepares each worker's connection; polling
  // alone would still take 20 s.
  run_one("warm-up execution", 10s);
  run_one("execution on NOTIFY", 2s);

  auto old_pid = test::scalar(dsn,
                              "SELECT pid FROM pg_stat_activity WHERE application_name = "
                              "'postbox-listener' AND datname = current_database()");
  CAF_REQUIRE(!old_pid.empty());
  CAF_REQUIRE_EQUAL(test::terminate_backends(dsn, "postbox-listener"), 1);
  CAF_REQUIRE(test::wait_until([&] { return listening(old_pid); }, 10s, 50ms));
  run_one("after pg_terminate_backend", 2s);
  a.signal(SIGTERM);
  CAF_CHECK_EQUAL(a.wait_exit(15s), 0);
}

// A message whose NOTIFY nobody heard (sent before the listener's LISTEN took hold,
// or while its connection was down) must not wait for the next poll: when the
// listener connects again every consumer looks once. The message is inserted with
// triggers off (session_replication_role = replica), so no NOTIFY is ever sent for
// it; only the reconnect can wake the consumers before their 30 s poll.
CAF_TEST(a message whose notify nobody heard runs when the listener connects again) {
  auto dsn = test::create_migrated_database("listen_missed");
  auto dir = test::make_temp_dir("listen_missed");
  auto topology = test::write_file(dir + "/topology.yaml", R"(database: { dsn: "${POSTBOX_DSN}" }
queues:
  orchestrator: { poll_interval: 30s }
  file_batch:   { poll_interval: 30s }
  callback:     { poll_interval: 30s }
workflows:
  docs: { processor: checksum, batch_size: 10 }
nodes:
  a: { actors: [ { role: orchestrator }, { role: file_batch }, { role: callback } ] }
)");
  test::node_process a(topology, "a", dsn);
  CAF_REQUIRE(a.start());
  auto listener_pid = [&] {
    return test::scalar(dsn,
                        "SELECT pid FROM pg_stat_activity WHERE application_name = "
                        "'postbox-listener' AND datname = current_database() AND state = "
                        "'idle' AND (query ILIKE 'listen%' OR query = 'SELECT 1')");
  };
  CAF_REQUIRE(test::wait_until([&] { return !listener_pid().empty(); }, 10s, 50ms));
  // Every consumer has made its first claim and the wake of the first connect is spent.
  CAF_REQUIRE(test::wait_until(
      [&] {
        return test::count(dsn,
                           "SELECT count(DISTINCT application_name) FROM pg_stat_activity WHERE "
                           "datname = current_database() AND state = 'idle' AND query ILIKE "
                           "'-- The claim: lock up to%'") >= 3;
      },
      10s, 50ms));
  auto old_pid = listener_pid();
  std::string files = "ARRAY[";
  for (int i = 0; i < 3; ++i)
    files += (i ? ", '" : "'") + test::write_file(dir + "/in/f" + std::to_string(i), "x") + "'";
  files += "]";
  auto id = test::scalar(
      dsn, "SET session_replication_role = replica; SELECT postbox.submit('docs', " + files + ")");
  CAF_REQUIRE(!id.empty());
  CAF_REQUIRE_EQUAL(test::terminate_backends(dsn, "postbox-listener"), 1);
  auto started = std::chrono::steady_clock::now();
  CAF_CHECK(test::wait_until(
      [&] {
        return test::scalar(dsn, "SELECT status FROM postbox.executions WHERE id = '" + id + "'") ==
               "COMPLETED";
      },
      15s, 50ms));
  CAF_MESSAGE("completed " << std::chrono::duration_cast<std::chrono::milliseconds>(
                                  std::chrono::steady_clock::now() - started)
                                  .count()
                           << " ms after the listener was terminated");
  CAF_CHECK_NOT_EQUAL(listener_pid(), old_pid);
  CAF_CHECK_EQUAL(
      test::count(dsn, "SELECT count(*) FROM postbox.file_results WHERE execution_id = '" + id +
                           "' AND status = 'done'"),
      3);
  a.signal(SIGTERM);
  CAF_CHECK_EQUAL(a.wait_exit(15s), 0);
}

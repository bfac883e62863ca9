// Many queues, one node (issue 24 item 6): a node's idle cost does not grow with its
// queues. Its consumers claim through one pool of database.pool sessions and do not poll
// on their own; the node's ready probe asks once per poll_interval which queues have work
// (one statement) and wakes their consumers. Real node processes
// (tests/actors_node/limits_main.cpp, type `work`, which records each run in `runs`).
#define CAF_SUITE idle_queues
#include <caf/test/unit_test.hpp>
#include <chrono>
#include <csignal>
#include <thread>

#include "persistence/mailbox_store.hpp"
#include "support/node_process.hpp"
#include "support/pg_fixture.hpp"

using namespace postbox;
using namespace std::chrono_literals;

namespace {

constexpr int queues = 60;

struct fixture {
  std::string dsn = test::create_migrated_database("idle_queues");
  std::string dir = test::make_temp_dir("idle_queues");
  std::string db = test::scalar(dsn, "SELECT current_database()");

  fixture() {
    test::exec(dsn,
               "CREATE TABLE runs (message_id bigint, queue text, key text, owner text, "
               "started_us bigint, ended_us bigint)");
  }

  /// `queues` queues of two workers each on node a; `extra` goes under `database:`.
  std::string topology(const std::string& extra = "") {
    std::string t = "cluster: idle\ndatabase: { dsn: \"${POSTBOX_DSN}\", pool: 4" + extra +
                    " }\ndrain_timeout: 5s\nqueues:\n";
    for (int i = 0; i < queues; ++i)
      t += "  q" + std::to_string(i) + ": { max_attempts: 3 }\n";  // poll_interval: 1s
    t += "nodes:\n  a:\n    actors:\n";
    for (int i = 0; i < queues; ++i)
      t += "      - { queue: q" + std::to_string(i) + ", concurrency: 2 }\n";
    return test::write_file(dir + "/idle.yaml", t);
  }

  std::unique_ptr<test::node_process> node(const std::string& topo, const std::string& form) {
    auto n = std::make_unique<test::node_process>(topo, "a", form);
    n->use_binary("postbox-test-limits");
    CAF_REQUIRE(n->start());
    // Up: its probe has a connection (it starts after every consumer).
    CAF_REQUIRE(test::wait_until([&] { return backends("postbox-probe") == 1; }, 20s));
    return n;
  }

  long long count(const std::string& sql) { return test::count(dsn, sql); }

  /// The node's backends on this test's database whose application_name is like `like`.
  long long backends(const std::string& like = "postbox-%") {
    return count("SELECT count(*) FROM pg_stat_activity WHERE datname = '" + db +
                 "' AND application_name LIKE '" + like + "'");
  }

  long long commits() {
    return count("SELECT xact_commit FROM pg_stat_database WHERE datname = '" + db + "'");
  }

  void send(const std::string& queue, int n, std::chrono::milliseconds delay = {}) {
    pg_session s{session_options{dsn, "idle-sender"}};
    mailbox_store mailbox{s};
    for (int i = 0; i < n; ++i) {
      outgoing_message m;
      m.queue = queue;
      m.type = "work";
      m.payload = R"({"key": "", "sleep_ms": 0})";
      m.delay = delay;
      CAF_REQUIRE(mailbox.send(m));
    }
  }
};

}  // namespace

CAF_TEST_FIXTURE_SCOPE(idle_queues_tests, fixture)

CAF_TEST(sixty idle queues cost the pool and a few connections and about two polls a second) {
  auto a = node(topology(), test::as_key_value(dsn));
  // Settled: each consumer's first claim (and actor promotion) is behind it, however
  // loaded the machine is: a second with few commits.
  CAF_REQUIRE(test::wait_until(
      [&] {
        const auto c0 = commits();
        std::this_thread::sleep_for(1s);
        return commits() - c0 <= 6;
      },
      60s, 10ms));
  // The database's commits also count autovacuum's passes over a freshly migrated
  // schema (and a loaded machine delays them): the quietest of up to five windows of 3 s.
  double per_s = 1e9;
  std::string windows;
  for (int w = 0; w < 5 && per_s >= 4.0; ++w) {
    const auto before = commits();
    const auto t0 = std::chrono::steady_clock::now();
    std::this_thread::sleep_for(3s);
    const auto after = commits();
    const double secs =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    // Each commits() reads in a transaction of its own: one of them is in the window.
    const double rate = static_cast<double>(after - before - 1) / secs;
    windows += (windows.empty() ? "" : ", ") + std::to_string(rate);
    per_s = std::min(per_s, rate);
  }
  const auto conns = backends();
  CAF_MESSAGE("idle: " << conns << " connections, " << per_s << " transactions/s (" << queues
                       << " queues, 2 workers each)");
  // pool (4) + probe, listener, heartbeat, schedule firer; no worker has run yet.
  CAF_CHECK_LESS_OR_EQUAL(conns, 8);
  CAF_CHECK_LESS_OR_EQUAL(backends("postbox-a/q%"), 0);  // no consumer of its own
  // The probe and the schedule firer once a second, the heartbeat every 2 s: about 2.5
  // (3.0 measured alone). The bound is loose because the database's commits also count
  // autovacuum's passes, which a loaded parallel run spreads over every window (5.7
  // measured once); a poll per queue would be 60 or more (it was 150 before the probe).
  CAF_CHECK_LESS(per_s, 8.0);
  // A burst across every queue: all of it handled, each once.
  for (int i = 0; i < queues; ++i) send("q" + std::to_string(i), 5);
  CAF_CHECK(test::wait_until([&] { return count("SELECT count(*) FROM runs") == 5 * queues; }, 60s,
                             100ms));
  CAF_CHECK_EQUAL(count("SELECT count(DISTINCT message_id) FROM runs"), 5 * queues);
  CAF_CHECK_EQUAL(count("SELECT count(*) FROM postbox.mailbox"), 0);
  CAF_MESSAGE("after the burst: " << backends() << " connections");
  a->signal(SIGTERM);
  CAF_CHECK_EQUAL(a->wait_exit(20s), 0);
}

CAF_TEST(a delayed message on an idle queue is claimed once due by the probe) {
  auto a = node(topology(), test::as_uri(dsn));
  const auto sent_us = std::chrono::duration_cast<std::chrono::microseconds>(
                           std::chrono::system_clock::now().time_since_epoch())
                           .count();
  // Its NOTIFY comes at the send, when it is not yet due: only the probe can wake q7.
  send("q7", 1, 1500ms);
  CAF_REQUIRE(test::wait_until([&] { return count("SELECT count(*) FROM runs") == 1; }, 10s, 50ms));
  const auto started = count("SELECT started_us FROM runs");
  const auto waited_ms = (started - sent_us) / 1000;
  CAF_MESSAGE("delayed 1500 ms, started after " << waited_ms << " ms");
  CAF_CHECK_GREATER_OR_EQUAL(waited_ms, 1400);
  CAF_CHECK_LESS(waited_ms, 1500 + 1000 + 1500);  // due + one probe interval + slack
  a->signal(SIGTERM);
  CAF_CHECK_EQUAL(a->wait_exit(20s), 0);
}

CAF_TEST(behind a transaction pooler with no listener the probe alone wakes the consumers) {
  auto a = node(topology(", pooler: transaction"), test::as_key_value(dsn));
  CAF_CHECK_EQUAL(backends("postbox-listener"), 0);
  for (int i = 0; i < 10; ++i) send("q" + std::to_string(i * 6), 2);
  CAF_CHECK(test::wait_until([&] { return count("SELECT count(*) FROM runs") == 20; }, 10s, 50ms));
  CAF_CHECK_EQUAL(count("SELECT count(*) FROM postbox.mailbox"), 0);
  a->signal(SIGTERM);
  CAF_CHECK_EQUAL(a->wait_exit(20s), 0);
}

CAF_TEST_FIXTURE_SCOPE_END()

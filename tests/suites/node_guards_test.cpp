// Guards seen from outside, with real postbox-node processes: a second process with a
// live node's name is refused (and a crashed node's name is free once its heartbeat is
// stale), a stray callback sent with `postbox send` completes nothing, and usage
// records are POSTed to the topology's usage URL (and left undelivered without one).
#define CAF_SUITE node_guards
#include <algorithm>
#include <caf/test/unit_test.hpp>
#include <csignal>
#include <memory>
#include <utility>

#include "messages/json_codec.hpp"
#include "messages/messages.hpp"
#include "persistence/conninfo.hpp"
#include "persistence/units_of_work.hpp"
#include "support/executions.hpp"
#include "support/node_process.hpp"
#include "support/pg_fixture.hpp"
#include "support/tcp_proxy.hpp"

using namespace postbox;
using namespace std::chrono_literals;

namespace {

struct fixture {
  std::string dsn = test::create_migrated_database("guards");
  std::string dir = test::make_temp_dir("guards");
  test::webhook_receiver hooks;
  int submitted = 0;

  /// A one-node topology (no ports, so a second process of it collides on nothing);
  /// `usage` is the topology's usage section, or "" for none.
  std::string topology(const std::string& usage = "") {
    return test::write_file(dir + "/topology" + std::to_string(++topologies) + ".yaml",
                            R"(cluster: guards
database: { dsn: "${POSTBOX_DSN}" }
queues:
  orchestrator: { visibility_timeout: 5s, poll_interval: 200ms }
  file_batch:   { visibility_timeout: 5s, poll_interval: 200ms }
  callback:     { visibility_timeout: 5s, poll_interval: 200ms }
workflows:
  docs: { processor: checksum, batch_size: 2 }
  slow: { processor: chaos, batch_size: 1, options: { sleep_ms: 1000 } }
webhooks: { url: ")" + hooks.url() +
                                R"(", max_attempts: 5 }
)" + usage + R"(
nodes:
  a:
    actors:
      - { role: orchestrator }
      - { role: file_batch, concurrency: 2 }
      - { role: callback }
      - { role: outbox }
)");
  }
  int topologies = 0;

  std::vector<std::string> make_files(const std::string& prefix, int n) {
    return test::make_files(dir, prefix, n);
  }

  std::string submit(const std::string& workflow, const std::vector<std::string>& files) {
    auto id = "exec-" + std::to_string(++submitted);
    test::submit_files(dsn, id, workflow, files, 10, "org-g");
    return id;
  }

  long long count(const std::string& sql) { return test::count(dsn, sql); }
  std::string status(const std::string& id) { return test::execution_status(dsn, id); }
  bool reaches(const std::string& id, const std::string& want, std::chrono::milliseconds d) {
    return test::wait_until([&] { return status(id) == want; }, d, 100ms);
  }
  bool outbox_settled(const std::string& id, const std::string& kind) {
    return test::wait_until(
        [&] {
          return count(
                     "SELECT count(*) FROM postbox.outbox WHERE state = 'delivered' AND kind = '" +
                     kind + "' AND execution_id = '" + id + "'") == 1;
        },
        15s, 100ms);
  }
  /// A DSN of this test's database through a proxy not yet open (nothing listens on
  /// its port), and the proxy.
  std::pair<std::string, std::unique_ptr<test::tcp_proxy>> database_behind_proxy() {
    auto ci = conninfo::parse(dsn);
    CAF_REQUIRE(ci);
    const std::string host = ci->get("host").value_or("127.0.0.1");
    const auto port = static_cast<uint16_t>(std::stoi(ci->get("port").value_or("5432")));
    const uint16_t front = test::free_port();
    CAF_REQUIRE(front != 0);
    ci->set("host", "127.0.0.1");
    ci->set("port", std::to_string(front));
    return {ci->str(), std::make_unique<test::tcp_proxy>(front, host, port)};
  }
  /// Failed start-up tries a node logged.
  static int tries(const std::string& log) {
    int n = 0;
    for (auto at = log.find("failed (try "); at != std::string::npos;
         at = log.find("failed (try ", at + 1))
      ++n;
    return n;
  }

  /// Waits until node `name`'s row names `pid` (the process registered itself).
  bool registered(const std::string& name, pid_t pid) {
    return test::wait_until(
        [&] {
          return count("SELECT count(*) FROM postbox.nodes WHERE name = '" + name +
                       "' AND pid = " + std::to_string(pid)) == 1;
        },
        15s, 50ms);
  }
};

}  // namespace

CAF_TEST_FIXTURE_SCOPE(node_guard_tests, fixture)

CAF_TEST(a second process with a live node name is refused and a stale name is taken) {
  auto topo = topology();
  test::node_process first{topo, "a", dsn};
  CAF_REQUIRE(first.start());
  CAF_REQUIRE(registered("a", first.pid()));
  test::node_process second{topo, "a", dsn};
  CAF_REQUIRE(second.start());
  CAF_CHECK_EQUAL(second.wait_exit(30s), 1);
  auto log = second.log();
  CAF_MESSAGE("second: " << log);
  CAF_CHECK(log.find("node 'a' is already running (pid " + std::to_string(first.pid())) !=
            std::string::npos);
  CAF_CHECK(log.find("refusing to start a second process with its name") != std::string::npos);
  CAF_CHECK(first.running());
  CAF_CHECK_EQUAL(count("SELECT count(*) FROM postbox.nodes WHERE name = 'a' AND pid = " +
                        std::to_string(first.pid())),
                  1);
  // The first still works.
  auto id = submit("docs", make_files("x", 2));
  CAF_CHECK(reaches(id, "COMPLETED", 20s));
  // Killed: its heartbeat stops; once it is stale (backdated here) the name is free.
  first.signal(SIGKILL);
  CAF_CHECK_EQUAL(first.wait_exit(5s), 128 + SIGKILL);
  test::exec(dsn,
             "UPDATE postbox.nodes SET heartbeat_at = now() - interval '1 minute' "
             "WHERE name = 'a'");
  test::node_process third{topo, "a", dsn};
  CAF_REQUIRE(third.start());
  CAF_CHECK(registered("a", third.pid()));
  CAF_CHECK(third.running());
  auto again = submit("docs", make_files("y", 2));
  CAF_CHECK(reaches(again, "COMPLETED", 20s));
  third.signal(SIGTERM);
  CAF_CHECK_EQUAL(third.wait_exit(15s), 0);
}

// A node that starts while its database is down (a restart, a failover) retries with
// backoff, one log line per try, and comes up when the database does: here a TCP
// proxy in front of the test server, opened only after the node has tried twice.
CAF_TEST(a node started before its database retries and then runs) {
  auto [down_dsn, proxy] = database_behind_proxy();
  test::node_process a{topology(), "a", down_dsn};
  CAF_REQUIRE(a.start());
  CAF_REQUIRE(test::wait_until([&] { return tries(a.log()) >= 2; }, 30s, 100ms));
  CAF_CHECK(a.running());
  CAF_CHECK_EQUAL(count("SELECT count(*) FROM postbox.nodes"), 0);
  CAF_REQUIRE(proxy->open());
  CAF_CHECK(registered("a", a.pid()));
  auto id = submit("docs", make_files("late", 2));
  CAF_CHECK(reaches(id, "COMPLETED", 20s));
  a.signal(SIGTERM);
  CAF_CHECK_EQUAL(a.wait_exit(15s), 0);
  CAF_MESSAGE("log: " << a.log());
}

// With no database for startup_timeout: exit 1, the last line naming the reason.
CAF_TEST(a node without a database gives up after startup_timeout) {
  auto [down_dsn, proxy] = database_behind_proxy();
  test::node_process a{topology("startup_timeout: 5s\n"), "a", down_dsn};
  CAF_REQUIRE(a.start());
  CAF_CHECK_EQUAL(a.wait_exit(30s), 1);
  auto log = a.log();
  CAF_MESSAGE("log: " << log);
  CAF_CHECK_GREATER_OR_EQUAL(tries(log), 1);
  while (!log.empty() && log.back() == '\n') log.pop_back();
  const std::string last = log.substr(log.rfind('\n') + 1);
  CAF_CHECK(last.rfind("postbox-node: migrate failed: connection_lost: ", 0) == 0);
  CAF_CHECK(last.find("startup_timeout 5s") != std::string::npos);
}

CAF_TEST(a stray callback sent with the cli completes nothing) {
  auto topo = topology();
  test::node_process a{topo, "a", dsn};
  CAF_REQUIRE(a.start());
  auto id = submit("slow", make_files("s", 6));  // 6 batches of 1 s, 2 at a time
  CAF_REQUIRE(test::wait_until(
      [&] {
        return count("SELECT count(*) FROM postbox.file_results WHERE execution_id = '" + id +
                     "'") >= 1;
      },
      20s, 20ms));
  auto sent =
      test::run_cli({"--dsn", dsn, "send", "--queue", "callback", "--type", "execution_callback",
                     "--json-payload", R"({"execution_id":")" + id + R"("})"});
  CAF_REQUIRE_EQUAL(sent.exit_code, 0);
  CAF_REQUIRE(test::wait_until(
      [&] {
        return count("SELECT count(*) FROM postbox.dead_letters WHERE execution_id = '" + id +
                     "' AND type = 'execution_callback' AND reason LIKE '%before its barrier "
                     "fired%'") == 1;
      },
      10s, 20ms));
  // At that moment nothing is complete: the barrier still waits for batches.
  CAF_CHECK_EQUAL(count("SELECT count(*) FROM postbox.barriers WHERE fired_at IS NULL AND "
                        "execution_id = '" +
                        id + "'"),
                  1);
  CAF_CHECK_EQUAL(status(id), "EXECUTING");
  CAF_CHECK(reaches(id, "COMPLETED", 30s));
  CAF_CHECK_EQUAL(count("SELECT files_done FROM postbox.executions WHERE id = '" + id + "'"), 6);
  CAF_CHECK_EQUAL(count("SELECT files_total FROM postbox.executions WHERE id = '" + id + "'"), 6);
  CAF_CHECK_EQUAL(count("SELECT count(*) FROM postbox.outbox WHERE kind = 'webhook' AND "
                        "execution_id = '" +
                        id + "'"),
                  1);
  CAF_CHECK(outbox_settled(id, "webhook"));
  CAF_CHECK_EQUAL(hooks.posts(id + ":COMPLETED"), 1);
  CAF_CHECK_EQUAL(count("SELECT count(*) FROM postbox.dead_letters"), 1);
  a.signal(SIGTERM);
  CAF_CHECK_EQUAL(a.wait_exit(15s), 0);
}

CAF_TEST(usage records are posted once per execution to the usage url) {
  auto topo = topology("usage: { url: \"" + hooks.url() + "\", max_attempts: 5 }");
  test::node_process a{topo, "a", dsn};
  CAF_REQUIRE(a.start());
  auto one = submit("docs", make_files("u", 3));
  auto two = submit("docs", make_files("v", 1));
  CAF_CHECK(reaches(one, "COMPLETED", 20s));
  CAF_CHECK(reaches(two, "COMPLETED", 20s));
  CAF_CHECK(outbox_settled(one, "usage"));
  CAF_CHECK(outbox_settled(two, "usage"));
  CAF_CHECK(outbox_settled(one, "webhook"));
  CAF_CHECK(outbox_settled(two, "webhook"));
  CAF_CHECK_EQUAL(hooks.posts(one + ":usage"), 1);
  CAF_CHECK_EQUAL(hooks.posts(two + ":usage"), 1);
  CAF_CHECK_EQUAL(hooks.total_posts(), 4);  // two webhooks, two usage records
  int usage_bodies = 0;
  for (auto body : hooks.bodies()) {
    body.erase(std::remove(body.begin(), body.end(), ' '), body.end());
    if (body.find("\"files_processed\":3") != std::string::npos &&
        body.find("\"org\":\"org-g\"") != std::string::npos)
      ++usage_bodies;
  }
  CAF_CHECK_EQUAL(usage_bodies, 1);
  a.signal(SIGTERM);
  CAF_CHECK_EQUAL(a.wait_exit(15s), 0);
}

CAF_TEST(without a usage url no usage record is claimed as delivered) {
  test::node_process a{topology(), "a", dsn};
  CAF_REQUIRE(a.start());
  auto id = submit("docs", make_files("w", 2));
  CAF_CHECK(reaches(id, "COMPLETED", 20s));
  CAF_CHECK(outbox_settled(id, "webhook"));
  // The dispatcher has run past the usage row (the webhook row beside it was
  // delivered): the usage row is still pending, never attempted, never posted.
  CAF_CHECK_EQUAL(count("SELECT count(*) FROM postbox.outbox WHERE kind = 'usage' AND "
                        "state = 'pending' AND attempts = 0 AND execution_id = '" +
                        id + "'"),
                  1);
  CAF_CHECK_EQUAL(count("SELECT count(*) FROM postbox.outbox WHERE kind = 'usage' AND "
                        "state = 'delivered'"),
                  0);
  CAF_CHECK_EQUAL(hooks.posts(id + ":usage"), 0);
  CAF_CHECK_EQUAL(hooks.total_posts(), 1);
  a.signal(SIGTERM);
  CAF_CHECK_EQUAL(a.wait_exit(15s), 0);
}

CAF_TEST_FIXTURE_SCOPE_END()

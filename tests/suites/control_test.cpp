// The control plane through CAF's middleman: `watch` gets pushed updates from a
// node's control actor and falls back to polling Postgres when none answers;
// pause/resume reach every node (the receiving node tells its peers); a client
// without the shared token is refused; TLS with certificates from the topology.
#define CAF_SUITE control
#include <caf/test/unit_test.hpp>
#include <csignal>
#include <cstdlib>
#include <future>

#include "actors/transports/http_server.hpp"
#include "client/client.hpp"
#include "support/node_process.hpp"
#include "support/pg_fixture.hpp"

using namespace postbox;
using namespace std::chrono_literals;

namespace {

struct fixture {
  std::string dsn = test::create_migrated_database("control");
  std::string dir = test::make_temp_dir("control");
  uint16_t port_a = test::free_port();
  uint16_t port_b = test::free_port();

  std::string topology(const std::string& name, const std::string& control_section,
                       bool b_publishes = true) {
    return test::write_file(dir + "/" + name + ".yaml", R"(database: { dsn: "${POSTBOX_DSN}" }
queues:
  file_batch: { visibility_timeout: 2s, poll_interval: 200ms }
  orchestrator: { poll_interval: 200ms }
  callback: { poll_interval: 200ms }
workflows:
  slow: { processor: chaos, batch_size: 1, options: { sleep_ms: 100 } }
)" + control_section + R"(
nodes:
  a:
    control_port: )" + std::to_string(port_a) + R"(
    actors: [ { role: orchestrator }, { role: file_batch, concurrency: 2 }, { role: callback } ]
  b:
    control_port: )" + std::to_string(b_publishes ? port_b : 0) +
                                                            R"(
    actors: [ { role: orchestrator }, { role: file_batch, concurrency: 2 }, { role: callback } ]
)");
  }

  std::string submit(int files) {
    auto in = dir + "/in" + std::to_string(files);
    for (int i = 0; i < files; ++i) test::write_file(in + "/f" + std::to_string(i), "x");
    client c{dsn};
    submit_request req;
    req.workflow = "slow";
    req.paths = {in};
    auto sub = c.submit(req);
    if (!sub) CAF_FAIL("submit: " << describe(sub.error()));
    return sub->execution_id;
  }

  std::string status(const std::string& id) {
    return test::scalar(dsn, "SELECT status FROM postbox.executions WHERE id = '" + id + "'");
  }

  std::vector<std::string> env(std::vector<std::string> extra = {}) {
    extra.push_back("POSTBOX_DSN=" + dsn);
    return extra;
  }

  bool control_up(const test::node_process& n) {
    return test::wait_until([&] { return n.log().find("control actor on") != std::string::npos; },
                            10s, 50ms);
  }
};

}  // namespace

CAF_TEST_FIXTURE_SCOPE(control_tests, fixture)

CAF_TEST(watch gets pushed updates and falls back to polling) {
  CAF_REQUIRE(port_a != 0 && port_b != 0);
  auto t = topology("plain", "");
  test::node_process a(t, "a", dsn);
  CAF_REQUIRE(a.start());
  CAF_REQUIRE(control_up(a));
  auto id = submit(12);
  auto watched = test::run_cli({"--topology", t, "watch", id}, env());
  CAF_CHECK_EQUAL(watched.exit_code, 0);
  CAF_CHECK(watched.err.find("live updates from node a") != std::string::npos);
  CAF_CHECK(watched.out.find("COMPLETED") != std::string::npos);
  // No control actor answers (b publishes nothing and a is gone): Postgres it is.
  a.signal(SIGTERM);
  CAF_CHECK_EQUAL(a.wait_exit(15s), 0);
  auto t2 = topology("only_b", "", false);
  test::node_process b(t2, "b", dsn);
  CAF_REQUIRE(b.start());
  auto id2 = submit(6);
  auto polled = test::run_cli({"--topology", t2, "watch", id2, "--json"}, env());
  CAF_CHECK_EQUAL(polled.exit_code, 0);
  CAF_CHECK(polled.out.find("\"status\":\"COMPLETED\"") != std::string::npos);
  auto human = test::run_cli({"--topology", t2, "watch", id2}, env());
  CAF_CHECK(human.err.find("polling Postgres") != std::string::npos);
}

CAF_TEST(a frozen node does not hang a watch) {
  // a publishes the control actor and freezes; b does the work once a's leases expire.
  auto t = topology("frozen",
                    "control: { request_timeout: 2s, heartbeat: 200ms, "
                    "connection_timeout: 1s }",
                    false);
  test::node_process a(t, "a", dsn), b(t, "b", dsn);
  CAF_REQUIRE(a.start());
  CAF_REQUIRE(control_up(a));
  auto id = submit(20);
  auto watch = std::async(std::launch::async, [&] {
    return test::run_cli({"--topology", t, "watch", id}, env());
  });
  CAF_REQUIRE(test::wait_until(
      [&] {
        return test::count(dsn, "SELECT count(*) FROM postbox.file_results WHERE execution_id = '" +
                                    id + "'") >= 2;
      },
      15s, 20ms));
  a.signal(SIGSTOP);
  CAF_REQUIRE(test::wait_until([&] { return a.stopped(); }, 5s, 10ms));
  CAF_REQUIRE(b.start());
  auto r = watch.get();
  CAF_CHECK_EQUAL(r.exit_code, 0);
  CAF_CHECK(r.err.find("live updates from node a") != std::string::npos);
  CAF_CHECK(r.err.find("polling Postgres") != std::string::npos);
  CAF_CHECK(r.out.find("COMPLETED") != std::string::npos);
  a.signal(SIGKILL);
}

CAF_TEST(pause and resume reach every node) {
  auto t = topology("pause", "");
  test::node_process a(t, "a", dsn), b(t, "b", dsn);
  CAF_REQUIRE(a.start());
  CAF_REQUIRE(b.start());
  CAF_REQUIRE(control_up(a));
  CAF_REQUIRE(control_up(b));
  auto paused = test::run_cli({"--topology", t, "pause", "file_batch"}, env());
  CAF_CHECK_EQUAL(paused.exit_code, 0);
  CAF_CHECK(paused.out.find("and 1 peer(s)") != std::string::npos);
  CAF_CHECK(test::wait_until(
      [&] { return b.log().find("queue 'file_batch' paused") != std::string::npos; }, 5s));
  auto id = submit(4);
  // Orchestrated, but no batch is claimed by either node while paused.
  CAF_CHECK(test::wait_until([&] { return status(id) == "EXECUTING"; }, 10s, 50ms));
  CAF_CHECK(!test::wait_until(
      [&] {
        return test::count(dsn,
                           "SELECT count(*) FROM postbox.mailbox WHERE queue = 'file_batch' "
                           "AND read_ct > 0") > 0;
      },
      1500ms, 100ms));
  auto resumed = test::run_cli({"--topology", t, "resume", "file_batch"}, env());
  CAF_CHECK_EQUAL(resumed.exit_code, 0);
  CAF_CHECK(test::wait_until([&] { return status(id) == "COMPLETED"; }, 15s, 100ms));
  auto drained = test::run_cli({"--topology", t, "drain", "b"}, env());
  CAF_CHECK_EQUAL(drained.exit_code, 0);
  CAF_CHECK_EQUAL(b.wait_exit(15s), 0);
  CAF_CHECK(a.running());
}

CAF_TEST(a client without the token is refused) {
  auto t = topology("token", "control: { token_env: PB_TEST_TOKEN, request_timeout: 3s }");
  test::node_process a(t, "a", dsn, {"PB_TEST_TOKEN=s3cret"});
  CAF_REQUIRE(a.start());
  CAF_REQUIRE(control_up(a));
  auto none = test::run_cli({"--topology", t, "pause", "file_batch"}, env());
  CAF_CHECK_NOT_EQUAL(none.exit_code, 0);
  CAF_CHECK(none.err.find("control.token_env") != std::string::npos ||
            none.err.find("unauthorized") != std::string::npos);
  auto wrong =
      test::run_cli({"--topology", t, "pause", "file_batch"}, env({"PB_TEST_TOKEN=guess"}));
  CAF_CHECK_EQUAL(wrong.exit_code, 1);
  CAF_CHECK(wrong.err.find("unauthorized") != std::string::npos);
  CAF_CHECK(a.log().find("paused") == std::string::npos);
  auto right =
      test::run_cli({"--topology", t, "pause", "file_batch"}, env({"PB_TEST_TOKEN=s3cret"}));
  CAF_CHECK_EQUAL(right.exit_code, 0);
  CAF_CHECK(test::wait_until(
      [&] { return a.log().find("queue 'file_batch' paused") != std::string::npos; }, 5s));
}

CAF_TEST(tls with certificates from the topology) {
  auto certs = dir + "/certs";
  auto cmd = "mkdir -p " + certs + " && cd " + certs +
             " && openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=postbox-ca "
             "-keyout ca.key -out ca.pem 2>/dev/null"
             " && openssl req -newkey rsa:2048 -nodes -subj /CN=node -keyout node.key "
             "-out node.csr 2>/dev/null"
             " && openssl x509 -req -in node.csr -CA ca.pem -CAkey ca.key -CAcreateserial "
             "-days 2 -out node.pem 2>/dev/null";
  CAF_REQUIRE_EQUAL(std::system(cmd.c_str()), 0);
  auto tls = "control:\n  request_timeout: 3s\n  tls: { certificate: " + certs +
             "/node.pem, key: " + certs + "/node.key, cafile: " + certs + "/ca.pem }";
  auto t = topology("tls", tls);
  test::node_process a(t, "a", dsn);
  CAF_REQUIRE(a.start());
  CAF_REQUIRE(control_up(a));
  CAF_CHECK(a.log().find("(TLS)") != std::string::npos);
  auto ok = test::run_cli({"--topology", t, "pause", "file_batch"}, env());
  CAF_CHECK_EQUAL(ok.exit_code, 0);
  // A plain client cannot talk to a TLS node.
  auto plain = topology("plain_client", "control: { request_timeout: 3s }");
  auto refused = test::run_cli({"--topology", plain, "resume", "file_batch"}, env());
  CAF_CHECK_NOT_EQUAL(refused.exit_code, 0);
  CAF_CHECK(a.log().find("resumed") == std::string::npos);
}

CAF_TEST_FIXTURE_SCOPE_END()

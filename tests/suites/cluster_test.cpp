// Several nodes from one topology on one host: the reaper's leader lease moves
// when the leader is killed, `postbox nodes` shows the dead node as stale, nodes
// leaving (SIGTERM, SIGKILL) and joining mid-run lose nothing; and the operator
// commands (executions, queues, dead-letters list/show/retry, send) on real data.
#define CAF_SUITE cluster
#include <boost/json.hpp>
#include <caf/test/unit_test.hpp>
#include <csignal>
#include <memory>

#include "client/client.hpp"
#include "persistence/mailbox_store.hpp"
#include "support/node_process.hpp"
#include "support/pg_fixture.hpp"

using namespace postbox;
using namespace std::chrono_literals;
namespace json = boost::json;

namespace {

struct fixture {
  std::string dsn = test::create_migrated_database("cluster");
  std::string dir = test::make_temp_dir("cluster");
  test::webhook_receiver hooks;
  std::string topology = test::write_file(dir + "/topology.yaml", R"(cluster: three
database: { dsn: "${POSTBOX_DSN}" }
queues:
  orchestrator: { visibility_timeout: 2s, poll_interval: 200ms }
  file_batch:   { visibility_timeout: 2s, claim_batch: 2, poll_interval: 200ms }
  callback:     { visibility_timeout: 2s, poll_interval: 200ms }
workflows:
  slow: { processor: chaos, batch_size: 2, options: { sleep_ms: 100 } }
webhooks: { url: ")" + hooks.url() + R"(" }
reaper: { interval: 1s, stuck_after: 2m }
nodes:
  n1: { control_port: 4801, actors: [ { role: orchestrator }, { role: file_batch, concurrency: 2 }, { role: callback }, { role: reaper }, { role: outbox } ] }
  n2: { control_port: 4802, actors: [ { role: orchestrator }, { role: file_batch, concurrency: 2 }, { role: callback }, { role: reaper }, { role: outbox } ] }
  n3: { control_port: 4803, actors: [ { role: orchestrator }, { role: file_batch, concurrency: 2 }, { role: callback }, { role: reaper }, { role: outbox } ] }
)");
  std::vector<std::string> env{"POSTBOX_DSN=" + dsn};

  std::unique_ptr<test::node_process> node(const std::string& name) {
    auto n = std::make_unique<test::node_process>(topology, name, dsn);
    if (!n->start()) CAF_FAIL("cannot start node " << name);
    return n;
  }

  json::array cli_json(const std::vector<std::string>& args) {
    std::vector<std::string> all = {"--dsn", dsn, "--json"};
    all.insert(all.end(), args.begin(), args.end());
    auto r = test::run_cli(all);
    if (r.exit_code != 0) CAF_FAIL("postbox " << args[0] << " failed: " << r.err);
    json::error_code ec;
    auto v = json::parse(r.out, ec);
    if (ec || !v.is_array()) CAF_FAIL("not a JSON array: " << r.out);
    return v.as_array();
  }

  std::string leader() {
    for (auto& n : cli_json({"nodes"}))
      if (n.as_object().at("leader").as_bool())
        return std::string(n.as_object().at("name").as_string());
    return "";
  }

  std::string node_state(const std::string& name) {
    for (auto& n : cli_json({"nodes"}))
      if (n.as_object().at("name").as_string() == name)
        return std::string(n.as_object().at("state").as_string());
    return "missing";
  }

  std::string status(const std::string& id) {
    return test::scalar(dsn, "SELECT status FROM postbox.executions WHERE id = '" + id + "'");
  }

  std::string submit(int files) {
    for (int i = 0; i < files; ++i)
      test::write_file(dir + "/in" + std::to_string(files) + "/f" + std::to_string(i), "x");
    client c{dsn};
    submit_request req;
    req.workflow = "slow";
    req.paths = {dir + "/in" + std::to_string(files)};
    auto sub = c.submit(req);
    if (!sub) CAF_FAIL("submit: " << describe(sub.error()));
    return sub->execution_id;
  }
};

}  // namespace

CAF_TEST_FIXTURE_SCOPE(cluster_tests, fixture)

CAF_TEST(the reaper lease moves when its leader is killed and the dead node shows stale) {
  auto n1 = node("n1");
  CAF_REQUIRE(test::wait_until([&] { return leader() == "n1"; }, 10s, 100ms));
  auto n2 = node("n2");
  auto n3 = node("n3");
  CAF_REQUIRE(test::wait_until([&] { return cli_json({"nodes"}).size() == 3; }, 10s, 100ms));
  CAF_CHECK_EQUAL(leader(), "n1");  // the others wait while n1 holds the lease
  n1->signal(SIGKILL);
  CAF_CHECK_EQUAL(n1->wait_exit(5s), 128 + SIGKILL);
  std::string next;
  CAF_CHECK(test::wait_until(
      [&] {
        next = leader();
        return next == "n2" || next == "n3";
      },
      10s, 200ms));
  CAF_MESSAGE("the reaper lease moved to " << next);
  CAF_CHECK_GREATER_OR_EQUAL(
      test::count(dsn, "SELECT term FROM postbox.leader_leases WHERE name = 'reaper'"), 2);
  CAF_CHECK(test::wait_until([&] { return node_state("n1") == "stale"; }, 20s, 500ms));
  CAF_CHECK_EQUAL(node_state("n2"), "live");
  CAF_CHECK_EQUAL(node_state("n3"), "live");
  auto human = test::run_cli({"--dsn", dsn, "nodes"});
  CAF_CHECK(human.out.find("stale") != std::string::npos);
}

CAF_TEST(nodes joining and leaving mid run lose nothing) {
  auto n1 = node("n1");
  auto a = submit(60);
  auto b = submit(40);
  CAF_REQUIRE(test::wait_until(
      [&] { return test::count(dsn, "SELECT count(*) FROM postbox.file_results") >= 10; }, 20s));
  auto n2 = node("n2");  // joins mid-run
  auto n3 = node("n3");
  CAF_REQUIRE(test::wait_until(
      [&] { return test::count(dsn, "SELECT count(*) FROM postbox.file_results") >= 40; }, 20s));
  n2->signal(SIGTERM);  // leaves cleanly: finishes what it holds
  n1->signal(SIGKILL);  // leaves hard: its leases expire
  CAF_CHECK_EQUAL(n2->wait_exit(20s), 0);
  CAF_CHECK(test::wait_until([&] { return status(a) == "COMPLETED" && status(b) == "COMPLETED"; },
                             60s, 200ms));
  CAF_CHECK_EQUAL(
      test::count(dsn,
                  "SELECT count(*) FROM postbox.file_results WHERE execution_id = '" + a + "'"),
      60);
  CAF_CHECK_EQUAL(
      test::count(dsn,
                  "SELECT count(*) FROM postbox.file_results WHERE execution_id = '" + b + "'"),
      40);
  CAF_CHECK(test::wait_until([&] { return hooks.total_posts() >= 2; }, 15s));
  CAF_CHECK_EQUAL(hooks.posts(a + ":COMPLETED"), 1);
  CAF_CHECK_EQUAL(hooks.posts(b + ":COMPLETED"), 1);
  auto listed = cli_json({"executions", "--status", "completed"});
  CAF_CHECK_EQUAL(listed.size(), 2u);
  auto filtered = cli_json({"executions", "--workflow", "nope"});
  CAF_CHECK_EQUAL(filtered.size(), 0u);
}

CAF_TEST(dead letters can be listed shown and retried and send validates) {
  auto n1 = node("n1");
  // An undecodable orchestration, stored behind the CLI's back (send would refuse it).
  pg_session s{{dsn, "test"}};
  mailbox_store mailbox{s};
  auto bad = mailbox.send(
      {"orchestrator", "execute_workflow", "e-bad", "org", R"({"workflow": 5})", "{}", 0ms});
  CAF_REQUIRE(bad);
  CAF_REQUIRE(test::wait_until(
      [&] {
        return cli_json({"dead-letters", "list"}).size() == 1;
      },
      10s, 100ms));
  auto dl = cli_json({"dead-letters", "list"})[0].as_object();
  CAF_CHECK_EQUAL(dl.at("message_id").as_int64(), *bad);
  CAF_CHECK(std::string(dl.at("reason").as_string()).find("field 'workflow'") != std::string::npos);
  auto id = std::to_string(dl.at("id").as_int64());
  auto show = test::run_cli({"--dsn", dsn, "--json", "dead-letters", "show", id});
  CAF_CHECK_EQUAL(show.exit_code, 0);
  CAF_CHECK(show.out.find("\"workflow\":5") != std::string::npos);
  auto queues = cli_json({"queues"});
  bool counted = false;
  for (auto& q : queues)
    if (q.as_object().at("queue").as_string() == "orchestrator")
      counted = q.as_object().at("dead_letters").as_int64() == 1;
  CAF_CHECK(counted);
  auto retry = test::run_cli({"--dsn", dsn, "dead-letters", "retry", id});
  CAF_CHECK_EQUAL(retry.exit_code, 0);
  // Still undecodable: dead again, as a second record; the first keeps its history.
  CAF_CHECK(test::wait_until(
      [&] {
        return cli_json({"dead-letters", "list"}).size() == 2;
      },
      10s, 100ms));
  CAF_CHECK_EQUAL(test::count(dsn,
                              "SELECT count(*) FROM postbox.dead_letters WHERE retried_as IS "
                              "NOT NULL AND id = " +
                                  id),
                  1);
  auto again = test::run_cli({"--dsn", dsn, "dead-letters", "retry", id});
  CAF_CHECK_EQUAL(again.exit_code, 2);
  CAF_CHECK(again.err.find("already retried") != std::string::npos);
  auto refused = test::run_cli({"--dsn", dsn, "send", "--queue", "orchestrator", "--type",
                                "execute_workflow", "--json-payload", R"({"workflow": 5})"});
  CAF_CHECK_EQUAL(refused.exit_code, 2);
  CAF_CHECK(refused.err.find("field 'workflow'") != std::string::npos);
  test::write_file(dir + "/one/f", "x");
  auto sent = test::run_cli(
      {"--dsn", dsn, "send", "--queue", "orchestrator", "--type", "execute_workflow",
       "--json-payload",
       R"({"workflow": "slow", "execution_id": "e-sent", "files": [")" + dir + R"(/one/f"]})"});
  CAF_CHECK_EQUAL(sent.exit_code, 0);
  CAF_CHECK(test::wait_until([&] { return status("e-sent") == "COMPLETED"; }, 15s, 100ms));
}

CAF_TEST_FIXTURE_SCOPE_END()

// The executor example end to end, as docs/actors.md runs it: real
// postbox-example-tools nodes, `postbox send` with --on-success / --on-error, the
// example's own table. Also: a type only another node handles is left for it,
// and a 200-child fan-out (with a nested group) finishes from 3 nodes while one of
// them is killed -9.
#define CAF_SUITE example_tools
#include <caf/test/unit_test.hpp>
#include <csignal>
#include <fstream>
#include <memory>
#include <sstream>

#include "support/node_process.hpp"
#include "support/pg_fixture.hpp"

using namespace postbox;
using postbox::test::read_text;
using postbox::test::source_path;
using namespace std::chrono_literals;

namespace {

struct fixture {
  std::string dsn = test::create_migrated_database("tools");
  std::string dir = test::make_temp_dir("tools");

  fixture() { test::exec(dsn, read_text(source_path("apps/examples/tools/schema.sql"))); }

  /// The example's topology (apps/examples/tools/tools.yaml) with short leases, plus
  /// `extra` nodes; the example node itself is `tools`.
  std::string topology(const std::string& extra_nodes = "",
                       const std::string& max_handler_time = "1m") {
    return test::write_file(dir + "/tools.yaml", R"(cluster: tools
database: { dsn: "${POSTBOX_DSN}" }
queues:
  executor:       { visibility_timeout: 2s, max_attempts: 1, max_handler_time: )" +
                                                     max_handler_time + R"(, poll_interval: 200ms }
  tool_callbacks: { visibility_timeout: 2s, max_attempts: 5, poll_interval: 200ms }
nodes:
  tools:
    actors:
      - { queue: executor, concurrency: 2 }
      - { queue: tool_callbacks, concurrency: 1 }
)" + extra_nodes);
  }

  std::unique_ptr<test::node_process> node(const std::string& topo, const std::string& name,
                                           const std::string& binary = "postbox-example-tools") {
    auto p = std::make_unique<test::node_process>(topo, name, dsn);
    p->use_binary(binary);
    CAF_REQUIRE(p->start());
    return p;
  }

  test::cli_result send_call(const std::string& topo, const std::string& call_id,
                             const std::string& payload) {
    auto r =
        test::run_cli({"--topology", topo, "--dsn", dsn, "send", "--queue", "executor", "--type",
                       "tool_call", "--json-payload", payload, "--on-success",
                       R"({"queue":"tool_callbacks","type":"tool_done","payload":{"call_id":")" +
                           call_id + R"("}})",
                       "--on-error",
                       R"({"queue":"tool_callbacks","type":"tool_failed","payload":{"call_id":")" +
                           call_id + R"("}})"});
    CAF_CHECK_EQUAL(r.exit_code, 0);
    if (r.exit_code != 0) CAF_MESSAGE("send: " << r.err);
    return r;
  }

  long long n(const std::string& sql) { return test::count(dsn, sql); }
  std::string text(const std::string& sql) { return test::scalar(dsn, sql); }
  bool outcomes(long long want, std::chrono::milliseconds deadline = 30s) {
    return test::wait_until([&] { return n("SELECT count(*) FROM tool_outcomes") >= want; },
                            deadline, 100ms);
  }
};

}  // namespace

CAF_TEST_FIXTURE_SCOPE(example_tools_tests, fixture)

CAF_TEST(a tool call chains tool_done on success and tool_failed on error) {
  auto topo = topology();
  auto tools = node(topo, "tools");
  send_call(topo, "c-ok", R"({"tool":"wordcount","input":"one two three"})");
  send_call(topo, "c-bad", R"({"tool":"nope","input":"x"})");
  CAF_REQUIRE(outcomes(2));
  CAF_CHECK_EQUAL(text("SELECT status || ' ' || (result->>'words') FROM tool_outcomes WHERE "
                       "call_id = 'c-ok'"),
                  "done 3");
  auto error = text("SELECT status || ': ' || error FROM tool_outcomes WHERE call_id = 'c-bad'");
  CAF_MESSAGE("tool_failed recorded: " << error);
  CAF_CHECK(error.find("failed: ") == 0);
  CAF_CHECK(error.find("no tool named 'nope' (attempt 1)") != std::string::npos);
  // max_attempts 1: the expensive call ran once, then it was dead-lettered, not retried.
  CAF_CHECK_EQUAL(n("SELECT count(*) FROM postbox.dead_letters WHERE type = 'tool_call' AND "
                    "attempts = 1"),
                  1);
  CAF_CHECK_EQUAL(n("SELECT count(*) FROM postbox.dead_letters"), 1);
  // message_id names the tool_call each continuation answered.
  CAF_CHECK_EQUAL(n("SELECT count(*) FROM tool_outcomes o JOIN postbox.dead_letters d ON "
                    "d.message_id = o.message_id WHERE o.call_id = 'c-bad'"),
                  1);
  CAF_CHECK(
      test::wait_until([&] { return n("SELECT count(*) FROM postbox.mailbox") == 0; }, 10s, 100ms));
  tools->signal(SIGTERM);
  CAF_CHECK_EQUAL(tools->wait_exit(20s), 0);
  CAF_CHECK_EQUAL(n("SELECT count(*) FROM tool_outcomes"), 2);
}

CAF_TEST(a tool call past max_handler_time chains tool_failed with the time out) {
  auto topo = topology("", "1s");
  auto tools = node(topo, "tools");
  send_call(topo, "c-slow", R"({"tool":"sleep","input":"2500"})");
  CAF_REQUIRE(outcomes(1));
  auto error = text("SELECT status || ': ' || error FROM tool_outcomes WHERE call_id = 'c-slow'");
  CAF_MESSAGE("tool_failed recorded: " << error);
  CAF_CHECK(error.find("failed: ") == 0);
  CAF_CHECK(error.find("timed out") != std::string::npos);
  CAF_CHECK_EQUAL(n("SELECT count(*) FROM postbox.dead_letters WHERE type = 'tool_call' AND "
                    "attempts = 1"),
                  1);
  // The stuck worker finishes its sleep; its late success commits nothing.
  CAF_CHECK(
      test::wait_until([&] { return n("SELECT count(*) FROM postbox.mailbox") == 0; }, 10s, 100ms));
  CAF_CHECK_EQUAL(n("SELECT count(*) FROM tool_outcomes"), 1);
  tools->signal(SIGTERM);
  CAF_CHECK_EQUAL(tools->wait_exit(20s), 0);
}

CAF_TEST(a type only another node handles is left for it) {
  auto topo = topology(R"(  plain:
    actors:
      - { queue: executor, concurrency: 2 }
)");
  // The tools node registers what it handles, then stops.
  {
    auto tools = node(topo, "tools");
    CAF_REQUIRE(test::wait_until(
        [&] {
          return n("SELECT count(*) FROM postbox.nodes WHERE name = 'tools' AND "
                   "'executor:tool_call' = ANY (handled_types)") == 1;
        },
        15s, 100ms));
    tools->signal(SIGTERM);
    CAF_REQUIRE_EQUAL(tools->wait_exit(20s), 0);
  }
  // The stock node serves the same queue but has no tool_call handler: it leaves the
  // calls for the node that has one (it does not even claim them) ...
  auto plain = node(topo, "plain", "postbox-node");
  for (int i = 0; i < 4; ++i)
    send_call(topo, "g-" + std::to_string(i), R"({"tool":"upper","input":"abc"})");
  // ... while a type that no node registers is claimed and dead-lettered with its name
  // (`postbox send` refuses it unless forced: the node's sweep is what is tested here).
  auto refused = test::run_cli({"--topology", topo, "--dsn", dsn, "send", "--queue", "executor",
                                "--type", "tool_cal", "--json-payload", "{}"});
  CAF_CHECK_EQUAL(refused.exit_code, 2);
  CAF_CHECK(refused.err.find("handled there: ") != std::string::npos);
  auto r = test::run_cli({"--topology", topo, "--dsn", dsn, "send", "--queue", "executor", "--type",
                          "tool_cal", "--json-payload", "{}", "--force"});
  CAF_CHECK_EQUAL(r.exit_code, 0);
  CAF_REQUIRE(test::wait_until(
      [&] {
        return n("SELECT count(*) FROM postbox.dead_letters WHERE type = 'tool_cal' AND reason "
                 "LIKE '%unknown message type ''tool_cal''%'") == 1;
      },
      15s, 100ms));
  CAF_CHECK(plain->log().find("message") != std::string::npos);
  CAF_CHECK_EQUAL(n("SELECT count(*) FROM tool_outcomes"), 0);
  CAF_CHECK_EQUAL(n("SELECT count(*) FROM postbox.mailbox WHERE type = 'tool_call' AND "
                    "attempts = 0 AND read_ct = 0"),
                  4);
  auto tools = node(topo, "tools");
  if (!outcomes(4, 40s)) {
    CAF_MESSAGE("tools log:\n" << tools->log() << "\nplain log:\n" << plain->log());
    CAF_FAIL("the calls left for the tools node did not finish");
  }
  CAF_CHECK_EQUAL(n("SELECT count(*) FROM tool_outcomes WHERE status = 'done' AND "
                    "result->>'text' = 'ABC'"),
                  4);
  CAF_CHECK_EQUAL(n("SELECT count(*) FROM postbox.dead_letters"), 1);
  tools->signal(SIGTERM);
  plain->signal(SIGTERM);
  CAF_CHECK_EQUAL(tools->wait_exit(20s), 0);
  CAF_CHECK_EQUAL(plain->wait_exit(20s), 0);
}

CAF_TEST(a 200 child fan out with a nested group fires one callback each from 3 nodes) {
  auto topo = test::write_file(dir + "/fan.yaml", R"(cluster: fan
database: { dsn: "${POSTBOX_DSN}" }
queues:
  executor:       { visibility_timeout: 2s, max_attempts: 3, poll_interval: 200ms }
  tool_callbacks: { visibility_timeout: 2s, max_attempts: 5, poll_interval: 200ms }
nodes:
  t1:
    actors: [ { queue: executor, concurrency: 2 }, { queue: tool_callbacks } ]
  t2:
    actors: [ { queue: executor, concurrency: 2 }, { queue: tool_callbacks } ]
  t3:
    actors: [ { queue: executor, concurrency: 2 }, { queue: tool_callbacks } ]
)");
  auto t1 = node(topo, "t1");
  auto t2 = node(topo, "t2");
  auto t3 = node(topo, "t3");
  // 199 slow calls and one nested batch of 5: 200 children.
  std::string calls;
  for (int i = 0; i < 199; ++i)
    calls += std::string(i ? "," : "") + R"({"tool":"sleep","input":"60"})";
  std::string nested =
      R"({"call_id":"b-nested","calls":[)" + std::string(R"({"tool":"wordcount","input":"a"},)") +
      R"({"tool":"wordcount","input":"a b"},{"tool":"wordcount","input":"a b c"},)" +
      R"({"tool":"wordcount","input":"a b c d"},{"tool":"sleep","input":"50"}]})";
  auto body = R"({"call_id":"b-top","calls":[)" + calls + R"(],"batches":[)" + nested + "]}";
  auto r = test::run_cli({"--topology", topo, "--dsn", dsn, "send", "--queue", "executor", "--type",
                          "tool_batch", "--json-payload", body});
  CAF_REQUIRE_EQUAL(r.exit_code, 0);
  // Once t2 holds some children, kill it: they come back after their lease.
  long long held = 0;
  CAF_REQUIRE(test::wait_until(
      [&] {
        held =
            n("SELECT count(*) FROM postbox.mailbox WHERE lease_owner LIKE 't2/%' AND "
              "visible_at > now() AND receipt IS NOT NULL");
        return held > 0 && n("SELECT count(*) FROM postbox.barrier_arrivals") > 20;
      },
      30s, 20ms));
  t2->signal(SIGKILL);
  CAF_MESSAGE("killed t2 holding " << held << " children");
  CAF_REQUIRE(outcomes(2, 90s));
  CAF_CHECK(
      test::wait_until([&] { return n("SELECT count(*) FROM postbox.mailbox") == 0; }, 30s, 100ms));
  CAF_CHECK_EQUAL(n("SELECT count(*) FROM tool_outcomes"), 2);
  CAF_CHECK_EQUAL(text("SELECT (result->>'ok') || ' ' || (result->>'failed') || ' ' || "
                       "jsonb_array_length(result->'results') FROM tool_outcomes WHERE call_id = "
                       "'b-top'"),
                  "200 0 200");
  CAF_CHECK_EQUAL(text("SELECT (result->>'ok') || ' ' || jsonb_array_length(result->'results') "
                       "FROM tool_outcomes WHERE call_id = 'b-nested'"),
                  "5 5");
  // The nested group's child is the last one; its result is the inner callback's.
  CAF_CHECK_EQUAL(text("SELECT result->'results'->199->'result'->>'call_id' FROM tool_outcomes "
                       "WHERE call_id = 'b-top'"),
                  "b-nested");
  CAF_CHECK_EQUAL(n("SELECT count(*) FROM postbox.barriers WHERE fired_at IS NOT NULL"), 2);
  CAF_CHECK_EQUAL(n("SELECT count(*) FROM postbox.barrier_arrivals"), 205);
  CAF_CHECK_EQUAL(n("SELECT count(*) FROM postbox.dead_letters"), 0);
  // Every node took part; the killed one's children were redelivered to the others.
  CAF_CHECK(held > 0);
  t1->signal(SIGTERM);
  t3->signal(SIGTERM);
  CAF_CHECK_EQUAL(t1->wait_exit(20s), 0);
  CAF_CHECK_EQUAL(t3->wait_exit(20s), 0);
}

CAF_TEST_FIXTURE_SCOPE_END()

// The topology loader: the shipped example loads, defaults and ${VAR} expansion apply, and every
// kind of bad input is one line naming source:line:col, the key path and the nearest key.
#define CAF_SUITE topology
#include "config/topology.hpp"

#include <caf/test/unit_test.hpp>
#include <cstdlib>
#include <string>
#include <vector>

#include "support/files.hpp"

using namespace postbox;
using postbox::test::source_path;
using namespace std::chrono_literals;

namespace {

// Two valid lines that most bad inputs below extend, so their line numbers start at 3.
const std::string db = "database: {dsn: 'dbname=x'}\n";
const std::string one_node = "nodes: {a: {actors: [{role: file_batch}]}}\n";
// One node with every pipeline role: what a topology with workflows needs.
const std::string pipeline_node =
    "nodes: {a: {actors: [{role: orchestrator}, {role: file_batch}, {role: callback}]}}\n";

// The one-line error text of loading `yaml`, or "" when it loaded.
std::string error_of(const std::string& yaml, const std::set<std::string>& extra = {}) {
  auto t = load_topology_string(yaml, "bad.yaml", extra);
  if (t) return "";
  CAF_CHECK(is(t.error(), errc::config_error));
  return describe(t.error());
}

// Checks that the error contains every needle; a miss prints the whole error text.
void expect_error(const std::string& yaml, const std::vector<std::string>& needles,
                  const std::set<std::string>& extra = {}) {
  const std::string err = error_of(yaml, extra);
  CAF_MESSAGE("error: " << err);
  CAF_CHECK_EQUAL(err.find('\n'), std::string::npos);
  for (const auto& n : needles) CAF_CHECK_EQUAL(err.find(n) != std::string::npos ? n : err, n);
}

// Sets a variable for one test and restores it, so suites sharing the runner are unaffected.
struct scoped_env {
  std::string name;
  bool had;
  std::string old;
  scoped_env(std::string n, const char* value) : name(std::move(n)) {
    const char* o = std::getenv(name.c_str());
    had = o != nullptr;
    old = o ? o : "";
    if (value)
      setenv(name.c_str(), value, 1);
    else
      unsetenv(name.c_str());
  }
  ~scoped_env() {
    if (had)
      setenv(name.c_str(), old.c_str(), 1);
    else
      unsetenv(name.c_str());
  }
};

}  // namespace

CAF_TEST(the example topology loads) {
  scoped_env dsn{"POSTBOX_DSN", "dbname=demo"};
  scoped_env url{"POSTBOX_WEBHOOK_URL", nullptr};
  auto t = load_topology_file(source_path("config/examples/demo.yaml"));
  CAF_REQUIRE_EQUAL(t ? std::string("ok") : describe(t.error()), "ok");
  CAF_CHECK_EQUAL(t->cluster, "demo");
  CAF_CHECK_EQUAL(t->database.dsn, "dbname=demo");
  CAF_CHECK_EQUAL(t->database.pool, 4);
  CAF_CHECK_EQUAL(t->database.password_file, "");
  CAF_CHECK_EQUAL(t->queues.size(), 3u);
  CAF_CHECK(t->queue("file_batch").visibility_timeout == 30s);
  CAF_CHECK_EQUAL(t->queue("callback").max_attempts, 5);
  CAF_CHECK_EQUAL(t->queue("file_batch").claim_batch, 16);
  CAF_REQUIRE_EQUAL(t->workflows.size(), 2u);
  CAF_CHECK_EQUAL(t->workflows.at("docs").name, "docs");
  CAF_CHECK_EQUAL(t->workflows.at("docs").processor, "checksum");
  CAF_CHECK_EQUAL(t->workflows.at("docs").batch_size, 10);
  CAF_CHECK_EQUAL(t->workflows.at("docs").options_json, "{}");
  CAF_CHECK_EQUAL(t->workflows.at("words").processor, "wordcount");
  CAF_CHECK_EQUAL(t->webhooks.url, "http://127.0.0.1:8089/hook");
  CAF_CHECK_EQUAL(t->webhooks.max_attempts, 10);
  CAF_CHECK(t->reaper.interval == 5s);
  CAF_CHECK(t->reaper.stuck_after == 2min);
  CAF_CHECK(t->reaper.tombstone_retention == 24h);
  CAF_REQUIRE_EQUAL(t->nodes.size(), 1u);
  const node_config* a = t->node("a");
  CAF_REQUIRE(a != nullptr);
  CAF_CHECK(t->node("b") == nullptr);
  CAF_CHECK_EQUAL(a->name, "a");
  CAF_CHECK_EQUAL(a->host, "127.0.0.1");
  CAF_CHECK_EQUAL(a->control_port, 4701);
  CAF_CHECK_EQUAL(a->http_port, 8701);
  CAF_REQUIRE_EQUAL(a->actors.size(), 5u);
  CAF_CHECK_EQUAL(a->actors[0].role, "orchestrator");
  CAF_CHECK_EQUAL(a->actors[0].queue, "orchestrator");
  CAF_CHECK_EQUAL(a->actors[1].role, "file_batch");
  CAF_CHECK_EQUAL(a->actors[1].concurrency, 4);
  CAF_CHECK_EQUAL(a->actors[1].queue, "file_batch");
  CAF_CHECK_EQUAL(a->actors[2].queue, "callback");
  CAF_CHECK_EQUAL(a->actors[3].role, "reaper");
  CAF_CHECK_EQUAL(a->actors[3].queue, "");
  CAF_CHECK_EQUAL(a->actors[4].role, "outbox");
  CAF_CHECK_EQUAL(a->actors[4].concurrency, 1);
  CAF_CHECK_EQUAL(t->source, source_path("config/examples/demo.yaml"));
  setenv("POSTBOX_WEBHOOK_URL", "http://hooks.example:9000/x", 1);
  auto u = load_topology_file(source_path("config/examples/demo.yaml"));
  CAF_REQUIRE(u);
  CAF_CHECK_EQUAL(u->webhooks.url, "http://hooks.example:9000/x");
}

CAF_TEST(defaults apply to what is not listed) {
  auto t = load_topology_string(db + one_node + "queues: {orchestrator: {max_attempts: 7}}\n",
                                "ok.yaml");
  CAF_REQUIRE_EQUAL(t ? std::string("ok") : describe(t.error()), "ok");
  CAF_CHECK_EQUAL(t->cluster, "postbox");
  CAF_CHECK_EQUAL(t->queue("orchestrator").max_attempts, 7);
  CAF_CHECK(t->queue("orchestrator").visibility_timeout == 30s);
  const queue_config& q = t->queue("callback");
  CAF_CHECK(q.visibility_timeout == 30s);
  CAF_CHECK_EQUAL(q.max_attempts, 3);
  CAF_CHECK_EQUAL(q.claim_batch, 16);
  CAF_CHECK(q.poll_interval == 1s);
  CAF_CHECK_EQUAL(t->queues.count("callback"), 0u);
  CAF_CHECK_EQUAL(t->database.pool, 4);
  CAF_CHECK_EQUAL(t->webhooks.url, "");
  CAF_CHECK(t->webhooks.timeout == 5s);
  CAF_CHECK(t->reaper.interval == 5s);
  CAF_CHECK(t->reaper.stuck_after == 120s);
  const node_config* a = t->node("a");
  CAF_REQUIRE(a != nullptr);
  CAF_CHECK_EQUAL(a->host, "127.0.0.1");
  CAF_CHECK_EQUAL(a->control_port, 0);
  CAF_CHECK_EQUAL(a->actors[0].concurrency, 1);
  CAF_CHECK_EQUAL(a->actors[0].queue, "file_batch");
}

CAF_TEST(environment variables expand in values) {
  setenv("PB_TOPO_DSN", "host=db dbname=x", 1);
  setenv("PB_TOPO_POOL", "9", 1);
  unsetenv("PB_TOPO_UNSET");
  setenv("PB_TOPO_EMPTY", "", 1);
  auto t = load_topology_string(
      "cluster: ${PB_TOPO_UNSET:-blue}\n"
      "database:\n"
      "  dsn: ${PB_TOPO_DSN} application_name=${PB_TOPO_UNSET:-pb}\n"
      "  pool: ${PB_TOPO_POOL}\n"
      "webhooks: {url: '${PB_TOPO_EMPTY:-http://h/${PB_TOPO_POOL}}'}\n" +
          one_node,
      "env.yaml");
  CAF_REQUIRE_EQUAL(t ? std::string("ok") : describe(t.error()), "ok");
  CAF_CHECK_EQUAL(t->cluster, "blue");
  CAF_CHECK_EQUAL(t->database.dsn, "host=db dbname=x application_name=pb");
  CAF_CHECK_EQUAL(t->database.pool, 9);
  CAF_CHECK_EQUAL(t->webhooks.url, "http://h/${PB_TOPO_POOL}");
  // Keys are never expanded.
  expect_error(db + one_node + "workflows: {'${PB_TOPO_POOL}': {processor: checksum}}\n",
               {"bad.yaml:3:13: workflows: invalid name '${PB_TOPO_POOL}'"});
}

CAF_TEST(durations) {
  auto ms = [](const char* text) {
    auto d = parse_duration(text);
    return d ? d->count() : -1;
  };
  CAF_CHECK_EQUAL(ms("500ms"), 500);
  CAF_CHECK_EQUAL(ms("30s"), 30000);
  CAF_CHECK_EQUAL(ms("2m"), 120000);
  CAF_CHECK_EQUAL(ms("1h"), 3600000);
  for (const char* bad :
       {"", "0s", "-5s", "5", "10x", "30 seconds", "1.5s", "s", "99999999999999h"}) {
    auto d = parse_duration(bad);
    CAF_REQUIRE(!d);
    CAF_CHECK(is(d.error(), errc::config_error));
    CAF_CHECK_NOT_EQUAL(describe(d.error()).find("'" + std::string(bad) + "'"), std::string::npos);
  }
}

CAF_TEST(processor options become json) {
  auto t = load_topology_string(db + pipeline_node +
                                    "workflows:\n"
                                    "  run: {processor: exec, options: {argv: [prog, 1, '{path}'], "
                                    "timeout: 30s}}\n"
                                    "  flaky: {processor: chaos, options: {sleep_ms: 20, "
                                    "fail_on: '*.fail', abort_on: 2}}\n"
                                    "  mine:\n"
                                    "    processor: custom\n"
                                    "    options: {n: 3, f: 0.5, b: true, s: '3', x: ~, l: [a, 1], "
                                    "m: {k: \"q\\\"\"}}\n",
                                "ok.yaml", {"custom"});
  CAF_REQUIRE_EQUAL(t ? std::string("ok") : describe(t.error()), "ok");
  CAF_CHECK_EQUAL(t->workflows.at("run").options_json,
                  R"({"argv":["prog","1","{path}"],"timeout":"30s"})");
  CAF_CHECK_EQUAL(t->workflows.at("flaky").options_json,
                  R"({"sleep_ms":20,"fail_on":"*.fail","abort_on":"2"})");
  CAF_CHECK_EQUAL(t->workflows.at("mine").options_json,
                  R"({"n":3,"f":0.5,"b":true,"s":"3","x":null,"l":["a",1],"m":{"k":"q\""}})");
  CAF_CHECK_EQUAL(t->workflows.at("mine").processor, "custom");
}

CAF_TEST(an unknown top level key names the nearest one) {
  expect_error(db + one_node + "quues:\n  orchestrator: {max_attempts: 3}\n",
               {"bad.yaml:3:1: topology: unknown key 'quues' (did you mean 'queues'?)"});
  // Nothing close: no suggestion.
  const std::string err = error_of(db + one_node + "zzzzzz: 1\n");
  CAF_CHECK_NOT_EQUAL(err.find("bad.yaml:3:1: topology: unknown key 'zzzzzz'"), std::string::npos);
  CAF_CHECK_EQUAL(err.find("did you mean"), std::string::npos);
}

CAF_TEST(an unknown queue key names the nearest one) {
  expect_error(db + one_node +
                   "queues:\n"
                   "  orchestrator:\n"
                   "    visibilty_timeout: 30s\n",
               {"bad.yaml:5:5: queues.orchestrator: unknown key 'visibilty_timeout' "
                "(did you mean 'visibility_timeout'?)"});
  expect_error(
      db + one_node + "queues: {callback: {claim: 3}}\n",
      {"bad.yaml:3:21: queues.callback: unknown key 'claim'", "(did you mean 'claim_batch'?)"});
}

CAF_TEST(a listed queue nobody consumes is a typo) {
  expect_error(
      db + one_node + "queues: {orchestrator: {}, filebatch: {}}\n",
      {"bad.yaml:3:28: queues: unknown queue 'filebatch'", "(did you mean 'file_batch'?)"});
}

CAF_TEST(a wrong type names what was expected) {
  expect_error(one_node + "database: 'dbname=x'\n",
               {"bad.yaml:2:11: database: expected a mapping, got 'dbname=x'"});
  expect_error(db + one_node + "queues: [orchestrator]\n",
               {"bad.yaml:3:9: queues: expected a mapping, got a sequence"});
  expect_error(db + "nodes: {a: {actors: {role: reaper}}}\n",
               {"bad.yaml:2:21: nodes.a.actors: expected a sequence, got a mapping"});
}

const std::string tools_node = "nodes: {a: {actors: [{queue: tools, concurrency: 2}]}}\n";

CAF_TEST(limits on queues and keys load and bad ones name the key) {
  auto t = load_topology_string(db + tools_node +
                                    "queues:\n  tools: {max_in_flight: 3, rate: 20/s, burst: 20}\n"
                                    "limits:\n  openai: {max_in_flight: 2, rate: 600/m}\n",
                                "ok.yaml");
  CAF_REQUIRE(t);
  CAF_CHECK_EQUAL(t->queue("tools").limit.max_in_flight, 3);
  CAF_CHECK_EQUAL(t->queue("tools").limit.rate, 20.0);
  CAF_CHECK_EQUAL(t->queue("tools").limit.burst, 20);
  CAF_CHECK_EQUAL(t->limits.at("openai").rate, 10.0);
  CAF_CHECK_EQUAL(t->limits.at("openai").burst, 1);
  CAF_CHECK(t->claims_limited("other"));  // key limits: every queue claims through them
  auto plain =
      load_topology_string(db + tools_node + "queues:\n  tools: {max_in_flight: 3}\n", "ok.yaml");
  CAF_REQUIRE(plain);
  CAF_CHECK(plain->claims_limited("tools"));
  CAF_CHECK(!plain->claims_limited("other"));
  expect_error(db + tools_node + "queues:\n  tools: {rate: 20 per second}\n",
               {"queues.tools.rate: expected a rate like 20/s"});
  expect_error(db + tools_node + "queues:\n  tools: {burst: 5}\n",
               {"queues.tools.burst: burst needs a rate"});
  expect_error(db + tools_node + "queues:\n  tools: {max_in_flight: 0}\n",
               {"queues.tools.max_in_flight: must be a positive integer"});
  expect_error(db + tools_node + "limits:\n  openai: {}\n",
               {"limits.openai: a limit needs max_in_flight or rate"});
  expect_error(db + tools_node + "limits:\n  openai: {max_inflight: 3}\n",
               {"unknown key 'max_inflight'"});
}

CAF_TEST(bad durations name the text) {
  expect_error(db + one_node + "queues:\n  orchestrator: {visibility_timeout: 30 seconds}\n",
               {"bad.yaml:4:38: queues.orchestrator.visibility_timeout: invalid duration "
                "'30 seconds'"});
  expect_error(db + one_node + "reaper: {interval: 10x}\n",
               {"bad.yaml:3:20: reaper.interval: invalid duration '10x'"});
  expect_error(db + one_node + "reaper:\n  stuck_after: -5s\n",
               {"bad.yaml:4:16: reaper.stuck_after: invalid duration '-5s'"});
  expect_error(db + one_node + "webhooks: {timeout: [1s]}\n",
               {"bad.yaml:3:21: webhooks.timeout: expected a duration, got a sequence"});
}

CAF_TEST(counts must be positive) {
  expect_error(db + one_node + "queues:\n  callback: {max_attempts: 0}\n",
               {"bad.yaml:4:28: queues.callback.max_attempts: must be a positive integer, got 0"});
  expect_error(db + one_node + "workflows: {docs: {processor: checksum, batch_size: -2}}\n",
               {"bad.yaml:3:53: workflows.docs.batch_size: must be a positive integer, got -2"});
  expect_error(db + "nodes: {a: {control_port: 70000, actors: [{role: reaper}]}}\n",
               {"bad.yaml:2:27: nodes.a.control_port: must be an integer from 0 to 65535"});
}

// Numbers the runtime multiplies or turns into threads, connections and server
// settings are bounded at load: max_attempts 2147483647 once overflowed the read cap
// (10 x max_attempts + 10 in int32) and dead-lettered every message on its first read.
CAF_TEST(counts and durations have upper bounds) {
  expect_error(db + one_node + "queues:\n  callback: {max_attempts: 2147483647}\n",
               {"bad.yaml:4:28: queues.callback.max_attempts: must be an integer from 1 to 1000, "
                "got 2147483647"});
  expect_error(db + one_node + "queues:\n  callback: {max_attempts: 99999999999}\n",
               {"bad.yaml:4:28: queues.callback.max_attempts: must be an integer from 1 to 1000"});
  expect_error(db + one_node + "queues:\n  callback: {claim_batch: 5000}\n",
               {"queues.callback.claim_batch: must be an integer from 1 to 1000, got 5000"});
  expect_error(db + one_node + "queues:\n  callback: {visibility_timeout: 25h}\n",
               {"bad.yaml:4:34: queues.callback.visibility_timeout: must be at most 1d, got "
                "'25h'"});
  expect_error(db + "nodes: {a: {actors: [{role: file_batch, concurrency: 100000}]}}\n",
               {"nodes.a.actors[0].concurrency: must be an integer from 1 to 1000"});
  expect_error("database: {dsn: x, pool: 5000}\n" + one_node,
               {"database.pool: must be an integer from 1 to 1000, got 5000"});
  expect_error(db + one_node + "webhooks: {max_attempts: 1001}\n",
               {"webhooks.max_attempts: must be an integer from 1 to 1000"});
  expect_error(db + one_node + "drain_timeout: 4000d\n",
               {"bad.yaml:3:16: drain_timeout: must be at most 3650d, got '4000d'"});
  // The bounds themselves load.
  auto t = load_topology_string(db + one_node +
                                    "queues:\n  callback: {max_attempts: 1000, "
                                    "visibility_timeout: 24h}\nretention: {failed: 3650d}\n",
                                "ok.yaml");
  CAF_REQUIRE(t);
  CAF_CHECK_EQUAL(t->queue("callback").max_attempts, 1000);
  CAF_CHECK_EQUAL(t->queue("callback").visibility_timeout, 24h);
}

CAF_TEST(a node needs actors) {
  expect_error(db + "nodes:\n  a:\n    host: 127.0.0.1\n",
               {"bad.yaml:3:3: nodes.a.actors: missing: a node needs at least one actor"});
  expect_error(db + "nodes:\n  a:\n    actors: []\n",
               {"bad.yaml:4:13: nodes.a.actors: a node needs at least one actor"});
  expect_error(db + "nodes:\n  a:\n    actors:\n",
               {"bad.yaml:4:5: nodes.a.actors: a node needs at least one actor"});
}

CAF_TEST(an unknown role names the nearest one) {
  expect_error(db + "nodes:\n"
                    "  a:\n"
                    "    actors:\n"
                    "      - { role: orchestrator }\n"
                    "      - { role: file_btach, concurrency: 4 }\n",
               {"bad.yaml:6:17: nodes.a.actors[1].role: unknown role 'file_btach' "
                "(did you mean 'file_batch'?)"});
  expect_error(db + "nodes: {a: {actors: [{role: reaper, queue: x}]}}\n",
               {"bad.yaml:2:37: nodes.a.actors[0]: role reaper consumes no queue"});
  expect_error(db + "nodes: {a: {actors: [{role: outbox}, {role: outbox}]}}\n",
               {"bad.yaml:2:38: nodes.a.actors[1]: role outbox is already listed as actors[0]"});
}

CAF_TEST(a queue alone is a generic consumer of that queue) {
  auto t = load_topology_string(db + "queues: {executor: {max_attempts: 1, max_handler_time: 5m}}\n"
                                     "drain_timeout: 10s\n"
                                     "nodes: {a: {actors: [{queue: executor, concurrency: 3}, "
                                     "{role: consumer, queue: tool_callbacks}]}}\n",
                                "ok.yaml");
  CAF_REQUIRE_EQUAL(t ? std::string("ok") : describe(t.error()), "ok");
  const node_config* a = t->node("a");
  CAF_REQUIRE(a != nullptr);
  CAF_REQUIRE_EQUAL(a->actors.size(), 2u);
  CAF_CHECK_EQUAL(a->actors[0].role, "consumer");
  CAF_CHECK_EQUAL(a->actors[0].queue, "executor");
  CAF_CHECK_EQUAL(a->actors[0].concurrency, 3);
  CAF_CHECK_EQUAL(a->actors[1].queue, "tool_callbacks");
  CAF_CHECK_EQUAL(t->queue("executor").max_attempts, 1);
  CAF_CHECK(t->queue("executor").max_handler_time == 5min);
  CAF_CHECK(t->queue("other").max_handler_time == 1h);
  CAF_CHECK(t->drain_timeout == 10s);
  expect_error(db + "nodes: {a: {actors: [{concurrency: 2}]}}\n",
               {"bad.yaml:2:22: nodes.a.actors[0].role: missing: an actor needs a role or a "
                "queue"});
  expect_error(db + "nodes: {a: {actors: [{role: consumer}]}}\n",
               {"bad.yaml:2:22: nodes.a.actors[0].queue: missing: role consumer needs a queue"});
  expect_error(db + "nodes: {a: {actors: [{role: callback}, {queue: callback}]}}\n",
               {"bad.yaml:2:40: nodes.a.actors[1]: queue callback is already consumed by "
                "actors[0] (raise its concurrency instead)"});
}

CAF_TEST(an unknown processor is an error unless registered) {
  const std::string yaml = db + one_node +
                           "workflows:\n"
                           "  docs:\n"
                           "    processor: checksun\n";
  expect_error(yaml, {"bad.yaml:5:16: workflows.docs.processor: unknown processor 'checksun' "
                      "(did you mean 'checksum'?)"});
  const std::string mine = db + pipeline_node + "workflows: {docs: {processor: mine}}\n";
  expect_error(mine, {"bad.yaml:3:31: workflows.docs.processor: unknown processor 'mine'"});
  CAF_CHECK_EQUAL(error_of(mine, {"mine"}), "");
  expect_error(db + one_node + "workflows: {docs: {batch_size: 3}}\n",
               {"bad.yaml:3:13: workflows.docs.processor: missing"});
}

CAF_TEST(processor options are checked) {
  expect_error(db + one_node +
                   "workflows:\n"
                   "  run:\n"
                   "    processor: exec\n"
                   "    options: {timeout: 5s}\n",
               {"bad.yaml:6:5: workflows.run.options.argv: missing: processor exec needs argv"});
  expect_error(db + one_node + "workflows: {run: {processor: exec}}\n",
               {"bad.yaml:3:13: workflows.run.options.argv: missing"});
  expect_error(db + one_node + "workflows: {run: {processor: exec, options: {argv: []}}}\n",
               {"bad.yaml:3:52: workflows.run.options.argv: expected a non-empty sequence"});
  expect_error(db + one_node +
                   "workflows:\n"
                   "  flaky:\n"
                   "    processor: chaos\n"
                   "    options:\n"
                   "      sleep_ms: 20\n"
                   "      fial_on: '*.fail'\n",
               {"bad.yaml:8:7: workflows.flaky.options: unknown key 'fial_on' "
                "(did you mean 'fail_on'?)"});
  expect_error(db + one_node + "workflows: {f: {processor: chaos, options: {sleep_ms: soon}}}\n",
               {"bad.yaml:3:55: workflows.f.options.sleep_ms: expected an integer, got 'soon'"});
  expect_error(db + one_node + "workflows: {d: {processor: checksum, options: {algo: md5}}}\n",
               {"bad.yaml:3:48: workflows.d.options: processor checksum takes no options"});
}

CAF_TEST(a duplicate key is an error) {
  expect_error(db + one_node +
                   "queues:\n"
                   "  callback: {max_attempts: 3}\n"
                   "  callback: {max_attempts: 4}\n",
               {"bad.yaml:5:3: queues: duplicate key 'callback' (first at line 4)"});
  expect_error("database:\n  dsn: a\n  pool: 2\n  dsn: b\n" + one_node,
               {"bad.yaml:4:3: database: duplicate key 'dsn'"});
}

CAF_TEST(a syntax error names its line) {
  expect_error(db + one_node + "queues: {callback: [1, 2}\n",
               {"bad.yaml:3:25: syntax error: illegal flow end"});
  expect_error(db + one_node + "reaper:\n  interval: 5s\n    stuck_after: 2m\n",
               {"bad.yaml:5:16: syntax error: illegal map value"});
  expect_error(db + one_node + "---\ncluster: x\n",
               {"bad.yaml:4:1: topology: only one YAML document is allowed"});
  expect_error("", {"bad.yaml:1:1: topology: the file is empty"});
}

CAF_TEST(odd documents are errors and never exceptions) {
  for (const std::string yaml :
       {"just a scalar\n", "- a\n- b\n", "? [x]\n: 1\n", "database: {dsn: x}\nnodes: [a]\n",
        "database: {dsn: x}\nnodes: {a: 3}\n", "database: {dsn: x}\nnodes: {a: {actors: [~]}}\n",
        "database: {dsn: x}\nnodes: {a: {actors: [[role]]}}\n", "a: &x [*x]\n",
        "database: {dsn: x}\nworkflows: {w: {processor: p, options: &o {a: [*o]}}}\n", "\t- x\n",
        "database: {dsn: !!binary aGk=}\nnodes: {'a b': {actors: [{role: outbox}]}}\n"}) {
    std::string err;
    try {
      err = error_of(yaml, {"p"});
    } catch (...) {
      err = "threw";
    }
    CAF_MESSAGE("error: " << err);
    CAF_CHECK_EQUAL(err.rfind("config_error: bad.yaml:", 0), 0u);
  }
}

CAF_TEST(an unset variable without default is an error) {
  unsetenv("PB_TOPO_NOPE");
  expect_error("database:\n  dsn: ${PB_TOPO_NOPE}\n" + one_node,
               {"bad.yaml:2:8: database.dsn: environment variable PB_TOPO_NOPE is not set"});
  expect_error(db + one_node + "webhooks: {url: 'http://${PB_TOPO_NOPE'}\n",
               {"bad.yaml:3:17: webhooks.url: unterminated ${"});
}

CAF_TEST(the dsn is required) {
  expect_error("database: {pool: 2}\n" + one_node,
               {"bad.yaml:1:1: database.dsn: missing: the database needs a dsn"});
  expect_error(one_node, {"bad.yaml:1:1: database.dsn: missing"});
  expect_error("database: {dsn: '${PB_TOPO_NOPE:-}'}\n" + one_node,
               {"bad.yaml:1:17: database.dsn: is empty after expanding"});
}

CAF_TEST(at least one node is required) {
  expect_error(db, {"bad.yaml:1:1: nodes: missing: at least one node is required"});
  expect_error(db + "nodes: {}\n", {"bad.yaml:2:1: nodes: at least one node is required"});
}

CAF_TEST(concurrency must be an integer) {
  expect_error(db + "nodes:\n"
                    "  a:\n"
                    "    actors:\n"
                    "      - { role: file_batch, concurrency: four }\n",
               {"bad.yaml:5:42: nodes.a.actors[0].concurrency: expected an integer, got 'four'"});
  expect_error(db + "nodes: {a: {actors: [{role: callback, concurrency: 2.5}]}}\n",
               {"bad.yaml:2:52: nodes.a.actors[0].concurrency: expected an integer, got '2.5'"});
}

CAF_TEST(a missing file cannot be read) {
  const std::string path = "/nonexistent/postbox/topology.yaml";
  auto t = load_topology_file(path);
  CAF_REQUIRE(!t);
  CAF_CHECK(is(t.error(), errc::config_error));
  CAF_CHECK_EQUAL(describe(t.error()), "config_error: " + path + ": cannot read file");
  auto d = load_topology_file(source_path("config"));
  CAF_REQUIRE(!d);
  CAF_CHECK_NOT_EQUAL(describe(d.error()).find(": cannot read file"), std::string::npos);
}

CAF_TEST(a cluster with workflows needs a consumer of every pipeline queue) {
  const std::string wf = "workflows: {docs: {processor: checksum}}\n";
  // No callback role on any node: every execution would wait for its callback forever.
  expect_error(db + wf +
                   "nodes:\n"
                   "  a: {actors: [{role: orchestrator}, {role: file_batch}]}\n"
                   "  b: {actors: [{role: file_batch}, {role: reaper}]}\n",
               {"bad.yaml:3:1: nodes: no node consumes queue 'callback', which the workflows' "
                "pipeline sends to"});
  // The callback role moved to another queue: nothing consumes `callback` either.
  expect_error(db + wf +
                   "nodes:\n"
                   "  a:\n"
                   "    actors:\n"
                   "      - {role: orchestrator}\n"
                   "      - {role: file_batch}\n"
                   "      - {role: callback, queue: other}\n",
               {"bad.yaml:3:1: nodes: no node consumes queue 'callback'"});
  expect_error(db + wf + "nodes: {a: {actors: [{role: file_batch}, {role: callback}]}}\n",
               {"bad.yaml:3:1: nodes: no node consumes queue 'orchestrator'"});
  // Spread over nodes is fine, and so is a cluster without workflows.
  CAF_CHECK(load_topology_string(db + wf +
                                     "nodes:\n"
                                     "  a: {actors: [{role: orchestrator}, {role: callback}]}\n"
                                     "  b: {actors: [{role: file_batch}]}\n",
                                 "ok.yaml"));
  CAF_CHECK(load_topology_string(db + one_node, "ok.yaml"));
}

CAF_TEST(usage records have their own url) {
  auto t = load_topology_string(
      db + one_node + "usage: {url: 'http://127.0.0.1:9/usage', max_attempts: 3, timeout: 2s}\n",
      "ok.yaml");
  CAF_REQUIRE(t);
  CAF_CHECK_EQUAL(t->usage.url, "http://127.0.0.1:9/usage");
  CAF_CHECK_EQUAL(t->usage.max_attempts, 3);
  CAF_CHECK_EQUAL(t->usage.timeout.count(), 2000);
  CAF_CHECK(load_topology_string(db + one_node, "ok.yaml")->usage.url.empty());
  expect_error(db + one_node + "usage: {url: 'ftp://x'}\n",
               {"bad.yaml:3:14: usage.url: expected an http:// or https:// URL"});
}

CAF_TEST(a program is declared once and run by name) {
  const std::string prog =
      "programs:\n"
      "  py:\n"
      "    argv: [python3, worker.py, '--flag']\n"
      "    queue: executor\n"
      "    types: [tool_call, tool_batch]\n"
      "    concurrency: 3\n"
      "    env: {PYTHONUNBUFFERED: '1'}\n";
  auto t = load_topology_string(db + prog + "nodes: {a: {actors: [{program: py}]}}\n", "ok.yaml");
  CAF_REQUIRE(t);
  const program_config* p = t->program("py");
  CAF_REQUIRE(p != nullptr);
  CAF_CHECK_EQUAL(p->argv.size(), 3u);
  CAF_CHECK_EQUAL(p->argv[2], "--flag");
  CAF_CHECK_EQUAL(p->queue, "executor");
  CAF_CHECK_EQUAL(p->types.size(), 2u);
  CAF_CHECK_EQUAL(p->concurrency, 3);
  CAF_CHECK_EQUAL(p->env.at("PYTHONUNBUFFERED"), "1");
  const auto& a = t->node("a")->actors.at(0);
  CAF_CHECK_EQUAL(a.program, "py");
  CAF_CHECK_EQUAL(a.queue, "executor");
  CAF_CHECK_EQUAL(a.concurrency, 3);
  // A node may run it with fewer processes; its queue counts as consumed.
  auto t2 = load_topology_string(db + prog + "queues: {executor: {max_attempts: 1}}\n" +
                                     "nodes: {a: {actors: [{program: py, concurrency: 1}]}}\n",
                                 "ok.yaml");
  CAF_REQUIRE(t2);
  CAF_CHECK_EQUAL(t2->node("a")->actors.at(0).concurrency, 1);
}

CAF_TEST(a bad program declaration names the key) {
  expect_error(db + "programs: {py: {argv: [python3], queue: q, types: [t]}}\n" +
                   "nodes: {a: {actors: [{program: pyy}]}}\n",
               {"nodes.a.actors[0].program: unknown program 'pyy' (did you mean 'py'?)"});
  expect_error(db + "programs: {py: {queue: q, types: [t]}}\n" + one_node,
               {"programs.py.argv: missing"});
  expect_error(db + "programs: {py: {argv: [], queue: q, types: [t]}}\n" + one_node,
               {"programs.py.argv: expected a non-empty list"});
  expect_error(db + "programs: {py: {argv: [x], types: [t]}}\n" + one_node,
               {"programs.py.queue: missing"});
  expect_error(db + "programs: {py: {argv: [x], queue: q, types: [t, t]}}\n" + one_node,
               {"programs.py.types[1]: type 't' is listed twice"});
  expect_error(db + "programs: {py: {argv: [x], queue: q, types: [t], concurency: 2}}\n" + one_node,
               {"unknown key 'concurency' (did you mean 'concurrency'?)"});
  expect_error(db + "programs: {py: {argv: [x], queue: q, types: [t]}}\n" +
                   "nodes: {a: {actors: [{program: py, queue: q}]}}\n",
               {"a program actor takes no queue"});
  expect_error(db + "programs: {py: {argv: [x], queue: q, types: [t]}}\n" +
                   "nodes: {a: {actors: [{program: py}, {queue: q}]}}\n",
               {"queue q is already consumed by actors[0]"});
  expect_error(db + one_node.substr(0, 0) + "nodes: {a: {actors: [{program: py}]}}\n",
               {"no programs are declared"});
}

CAF_TEST(retention is per state in durations with days) {
  auto t = load_topology_string(db + one_node +
                                    "retention: {completed: 7d, failed: 720h, dead_letters: 30d, "
                                    "outbox_delivered: 1d, batch: 500}\n",
                                "ok.yaml");
  CAF_REQUIRE(t);
  CAF_CHECK(t->retention.completed == std::chrono::hours(24 * 7));
  CAF_CHECK(t->retention.failed == std::chrono::hours(720));
  CAF_CHECK(t->retention.dead_letters == std::chrono::hours(24 * 30));
  CAF_CHECK(t->retention.outbox_delivered == std::chrono::hours(24));
  CAF_CHECK_EQUAL(t->retention.batch, 500);
  auto d = load_topology_string(db + one_node, "ok.yaml");
  CAF_REQUIRE(d);
  CAF_CHECK(d->retention.completed == std::chrono::hours(24 * 7));
  CAF_CHECK(d->retention.failed == std::chrono::hours(24 * 30));
  CAF_CHECK_EQUAL(d->retention.batch, 1000);
  expect_error(db + one_node + "retention: {complete: 7d}\n",
               {"retention: unknown key 'complete' (did you mean 'completed'?)"});
  expect_error(db + one_node + "retention: {failed: 7 days}\n",
               {"retention.failed: invalid duration '7 days'"});
  expect_error(db + one_node + "retention: {batch: 0}\n",
               {"retention.batch: must be an integer from 1 to 100000"});
}

CAF_TEST(priorities with aging and a default tier per type) {
  auto t = load_topology_string(
      db + one_node + "priorities:\n  aging_after: 30s\n  types: {report: high, bulk: low}\n",
      "p.yaml");
  CAF_REQUIRE(t);
  CAF_CHECK_EQUAL(t->priorities.aging_after, 30s);
  CAF_CHECK(t->priorities.types.at("report") == priority::high);
  CAF_CHECK(t->priorities.types.at("bulk") == priority::low);
  auto d = load_topology_string(db + one_node, "d.yaml");
  CAF_REQUIRE(d);
  CAF_CHECK_EQUAL(d->priorities.aging_after, std::chrono::milliseconds(std::chrono::minutes(5)));
  CAF_CHECK(d->priorities.types.empty());
  expect_error(db + one_node + "priorities:\n  types: {report: hgh}\n",
               {"bad.yaml:4:19", "priorities.types.report",
                "must be one of low, normal, high, urgent, got 'hgh'"});
  expect_error(db + one_node + "priorities:\n  aging: 5m\n",
               {"bad.yaml:4:3", "unknown key 'aging' (did you mean 'aging_after'?)"});
}

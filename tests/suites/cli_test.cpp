// The `postbox` client as users and scripts run it: one readable line and a
// non-zero exit for every bad call; submit --upload --wait --json and status
// --json against a running node.
#define CAF_SUITE cli
#include <boost/json.hpp>
#include <caf/test/unit_test.hpp>
#include <csignal>
#include <future>
#include <sstream>

#include "postbox/version.hpp"
#include "support/node_process.hpp"
#include "support/pg_fixture.hpp"
#include "support/shell.hpp"

using namespace postbox;
using namespace std::chrono_literals;

namespace {

size_t lines(const std::string& s) {
  size_t n = 0;
  for (char c : s) n += c == '\n';
  return n;
}

/// A failed call: the exit code, and exactly one line on stderr containing `needle`.
bool one_line_error(const test::cli_result& r, int code, const std::string& needle) {
  bool ok = r.exit_code == code && lines(r.err) == 1 && r.err.find(needle) != std::string::npos;
  if (!ok) CAF_MESSAGE("exit " << r.exit_code << ", stderr: " << r.err);
  return ok;
}

bool contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

std::vector<std::string> words(const std::string& command) {
  std::vector<std::string> out;
  std::istringstream in(command);
  for (std::string w; in >> w;) out.push_back(w);
  return out;
}

std::vector<std::string> plus(std::vector<std::string> args, const std::vector<std::string>& more) {
  args.insert(args.end(), more.begin(), more.end());
  return args;
}

/// Every command and subcommand with what its --help must name: its options and positionals.
const std::vector<std::pair<std::string, std::vector<std::string>>> commands = {
    {"migrate", {}},
    {"submit", {"--workflow", "--upload", "--batch-size", "--org", "--wait", "PATH"}},
    {"status", {"EXECUTION_ID"}},
    {"watch", {"EXECUTION_ID"}},
    {"cancel", {"EXECUTION_ID"}},
    {"executions", {"--status", "--workflow", "--limit"}},
    {"queues", {}},
    {"schedules", {"stale", "pause", "trigger"}},
    {"schedules pause", {"NAME"}},
    {"schedules resume", {"NAME", "not caught up"}},
    {"schedules trigger", {"NAME", "triggered"}},
    {"nodes", {}},
    {"dead-letters", {"list", "show", "retry"}},
    {"dead-letters list", {"--limit"}},
    {"dead-letters show", {"ID"}},
    {"dead-letters retry", {"ID"}},
    {"send",
     {"--queue", "--actor", "TYPE/KEY", "--type", "--json-payload", "--headers", "--on-success",
      "--on-error", "--force"}},
    {"ask", {"--queue", "--type", "--json-payload", "--timeout", "--headers", "--request-id"}},
    {"reply", {"REQUEST_ID", "--wait"}},
    {"actors", {"--blocked", "--type", "--limit"}},
    {"actor", {"show", "retry", "skip", "drop"}},
    {"actor show", {"TYPE", "KEY", "state"}},
    {"actor retry", {"TYPE", "KEY", "not blocked"}},
    {"actor skip", {"TYPE", "KEY", "poison path", "not blocked"}},
    {"actor drop", {"TYPE", "KEY", "outcome::drop", "no on_error", "not blocked"}},
    {"pause", {"QUEUE"}},
    {"resume", {"QUEUE"}},
    {"drain", {"NODE"}},
    {"help", {"COMMAND"}},
};

/// The names `postbox --help` lists under "Commands:".
std::vector<std::string> listed_commands(const std::string& help) {
  std::vector<std::string> names;
  std::istringstream in(help);
  bool inside = false;
  for (std::string line; std::getline(in, line);) {
    if (line == "Commands:") {
      inside = true;
    } else if (inside && line.empty()) {
      break;
    } else if (inside) {
      names.push_back(words(line).at(0));
    }
  }
  return names;
}

struct fixture {
  std::string dir = test::make_temp_dir("cli");
  std::string topology =
      test::write_file(dir + "/topology.yaml", R"(database: { dsn: "${POSTBOX_DSN}" }
workflows:
  docs: { processor: checksum, batch_size: 3 }
nodes:
  a:
    actors:
      - { role: orchestrator }
      - { role: file_batch, concurrency: 2 }
      - { role: callback }
)");
};

}  // namespace

CAF_TEST_FIXTURE_SCOPE(cli_tests, fixture)

CAF_TEST(bad calls print one line and exit non zero) {
  CAF_CHECK(one_line_error(test::run_cli({}), 2, "no command"));
  CAF_CHECK(one_line_error(test::run_cli({"frobnicate"}), 2, "unknown command 'frobnicate'"));
  CAF_CHECK(one_line_error(test::run_cli({"--bogus", "status"}), 2, "unknown option --bogus"));
  CAF_CHECK(one_line_error(test::run_cli({"--dsn"}), 2, "--dsn needs a value"));
  auto dsn = test::server_dsn();
  CAF_CHECK(one_line_error(test::run_cli({"--dsn", dsn, "submit", dir}), 2, "--workflow"));
  CAF_CHECK(one_line_error(
      test::run_cli({"--dsn", dsn, "submit", "--workflow", "docs", dir + "/missing"}), 2,
      "no such file or folder"));
  CAF_CHECK(one_line_error(
      test::run_cli({"--dsn", dsn, "submit", "--workflow", "docs", "--batch-size", "zero", dir}), 2,
      "--batch-size"));
  CAF_CHECK(one_line_error(test::run_cli({"--dsn", dsn, "status"}), 2, "EXECUTION_ID"));
  auto bad = test::write_file(dir + "/bad.yaml", "database: { dsn: x }\nnodez: {}\n");
  CAF_CHECK(one_line_error(test::run_cli({"--topology", bad, "status", "x"}), 2, "bad.yaml:2:"));
  CAF_CHECK(
      one_line_error(test::run_cli({"--topology", topology, "submit", "--workflow", "nope", dir},
                                   {"POSTBOX_DSN=" + dsn}),
                     2, "unknown workflow 'nope'"));
  CAF_CHECK(one_line_error(
      test::run_cli({"--dsn", "host=127.0.0.1 port=1 connect_timeout=2", "status", "x"}), 1,
      "status failed"));
}

CAF_TEST(every command has a help naming its options and exit codes) {
  auto top = test::run_cli({"--help"});
  CAF_CHECK_EQUAL(top.exit_code, 0);
  CAF_CHECK_EQUAL(top.err, "");
  for (const char* global : {"--dsn", "--topology", "--json", "--version", "POSTBOX_DSN",
                             "POSTBOX_TOPOLOGY", "Exit codes"})
    CAF_CHECK(contains(top.out, global));
  // The table above covers every command postbox lists, and postbox lists every one.
  std::vector<std::string> expected;
  for (const auto& [command, _] : commands)
    if (words(command).size() == 1) expected.push_back(command);
  CAF_CHECK_EQUAL(listed_commands(top.out), expected);
  for (const auto& [command, mentions] : commands) {
    auto help = test::run_cli(plus(words(command), {"--help"}));
    CAF_MESSAGE("postbox " << command << " --help");
    CAF_CHECK_EQUAL(help.exit_code, 0);
    CAF_CHECK_EQUAL(help.err, "");
    CAF_CHECK(contains(help.out, "Usage: postbox " + command + " "));
    CAF_CHECK(contains(help.out, "Exit codes:"));
    for (const auto& m : mentions) {
      if (!contains(help.out, m)) CAF_MESSAGE("postbox " << command << " --help misses " << m);
      CAF_CHECK(contains(help.out, m));
    }
    // Short -h, and `postbox help COMMAND`, print the same.
    CAF_CHECK_EQUAL(test::run_cli(plus(words(command), {"-h"})).out, help.out);
    auto by_help = test::run_cli(plus({"help"}, words(command)));
    CAF_CHECK_EQUAL(by_help.exit_code, 0);
    CAF_CHECK_EQUAL(by_help.out, help.out);
  }
  CAF_CHECK(
      one_line_error(test::run_cli({"help", "frobnicate"}), 2, "unknown command 'frobnicate'"));
}

CAF_TEST(an unknown option or a bad value is one line and exit 2 for every command) {
  // No database is needed (none is given): the command line is refused first.
  for (const auto& [command, _] : commands) {
    auto r = test::run_cli(plus(words(command), {"--no-such-option"}));
    CAF_CHECK(one_line_error(r, 2, command + ": unknown option --no-such-option"));
  }
  CAF_CHECK(one_line_error(test::run_cli({"dead-letters", "purge"}), 2,
                           "dead-letters: unknown command 'purge'"));
  CAF_CHECK(one_line_error(test::run_cli({"status", "a", "b"}), 2, "status: unexpected 'b'"));
  CAF_CHECK(
      one_line_error(test::run_cli({"submit", "--workflow", "docs", "--batch-size", "0", dir}), 2,
                     "submit: --batch-size: must be a positive integer, got '0'"));
  CAF_CHECK(one_line_error(test::run_cli({"executions", "--limit", "-3"}), 2,
                           "executions: --limit: must be a positive integer, got '-3'"));
  CAF_CHECK(one_line_error(test::run_cli({"executions", "--status", "done"}), 2,
                           "executions: --status: must be QUEUED, EXECUTING, COMPLETED"));
  CAF_CHECK(one_line_error(test::run_cli({"dead-letters", "show", "abc"}), 2,
                           "dead-letters show: ID: must be a positive integer, got 'abc'"));
  CAF_CHECK(one_line_error(test::run_cli({"dead-letters", "list", "--limit"}), 2,
                           "dead-letters list: --limit needs a value"));
  CAF_CHECK(one_line_error(test::run_cli({"ask", "--queue", "q", "--type", "t", "--json-payload",
                                          "{}", "--timeout", "5"}),
                           2, "ask: --timeout: "));
  CAF_CHECK(
      one_line_error(test::run_cli({"reply", "r-1", "--wait", "soon"}), 2, "reply: --wait: "));
  CAF_CHECK(one_line_error(test::run_cli({"send", "--queue", "q", "--type", "t"}), 2,
                           "send: --json-payload is required"));
  for (const char* bad : {"account", "/42", "account/", ""})
    CAF_CHECK(one_line_error(
        test::run_cli({"send", "--actor", bad, "--type", "t", "--json-payload", "{}"}), 2,
        "send: --actor: must be TYPE/KEY"));
  CAF_CHECK(one_line_error(test::run_cli({"actor", "show", "t"}), 2, "actor show: KEY"));
  CAF_CHECK(one_line_error(test::run_cli({"actor", "kill", "t", "k"}), 2,
                           "actor: unknown command 'kill'"));
  CAF_CHECK(one_line_error(test::run_cli({"actors", "--limit", "0"}), 2,
                           "actors: --limit: must be a positive integer, got '0'"));
}

CAF_TEST(global options go before or after the command) {
  // An unreachable server: exit 1 proves the command ran with the DSN given after it.
  auto nowhere = "host=127.0.0.1 port=1 connect_timeout=2";
  CAF_CHECK(one_line_error(test::run_cli({"status", "x", "--json", "--dsn", nowhere}), 1,
                           "status failed"));
  CAF_CHECK(one_line_error(test::run_cli({"queues"}, {std::string("POSTBOX_DSN=") + nowhere}), 1,
                           "queues failed"));
}

CAF_TEST(every command runs its own body) {
  // An unreachable server: each command gets as far as the database and says which
  // command failed (exit 1), so the command line dispatched to the right body.
  auto nowhere = std::string("POSTBOX_DSN=host=127.0.0.1 port=1 connect_timeout=2");
  test::write_file(dir + "/in/a.txt", "a");
  const std::vector<std::pair<std::vector<std::string>, std::string>> runs = {
      {{"migrate"}, "migrate failed"},
      {{"submit", "--workflow", "docs", dir + "/in"}, "submit failed"},
      {{"status", "x"}, "status failed"},
      {{"watch", "x"}, "watch failed"},
      {{"cancel", "x"}, "cancel failed"},
      {{"executions"}, "executions failed"},
      {{"queues"}, "queues failed"},
      {{"schedules"}, "schedules failed"},
      {{"schedules", "trigger", "x"}, "schedules trigger failed"},
      {{"nodes"}, "nodes failed"},
      {{"dead-letters", "list"}, "dead-letters list failed"},
      {{"dead-letters", "show", "1"}, "dead-letters show failed"},
      {{"dead-letters", "retry", "1"}, "dead-letters retry failed"},
      {{"send", "--queue", "q", "--type", "t", "--json-payload", "{}"}, "send refused"},
      {{"ask", "--queue", "q", "--type", "t", "--json-payload", "{}"}, "ask failed"},
      {{"reply", "r-1"}, "reply failed"},
      {{"send", "--actor", "t/k", "--type", "t", "--json-payload", "{}"}, "send failed"},
      {{"actors"}, "actors failed"},
      {{"actor", "show", "t", "k"}, "actor show failed"},
      {{"actor", "retry", "t", "k"}, "actor retry failed"},
      {{"actor", "skip", "t", "k"}, "actor skip failed"},
      {{"actor", "drop", "t", "k"}, "actor drop failed"},
      {{"pause", "q"}, "pause failed"},
      {{"resume", "q"}, "resume failed"},
      {{"drain", "a"}, "no node 'a'"},
  };
  // Side by side: each one retries the connection for a few seconds before it gives up.
  std::vector<std::future<test::cli_result>> results;
  for (const auto& run : runs)
    results.push_back(
        std::async(std::launch::async, [&] { return test::run_cli(run.first, {nowhere}); }));
  for (size_t i = 0; i < runs.size(); ++i) {
    CAF_MESSAGE("postbox " << runs[i].first.at(0));
    CAF_CHECK(one_line_error(results[i].get(), 1, runs[i].second));
  }
  CAF_CHECK(one_line_error(test::run_cli({"dead-letters"}, {nowhere}), 2,
                           "dead-letters needs list, show ID or retry ID"));
  CAF_CHECK(one_line_error(test::run_cli({"actor"}, {nowhere}), 2,
                           "actor needs show, retry, skip or drop TYPE KEY"));
}

CAF_TEST(version lines) {
  const std::string tail = std::string(" ") + POSTBOX_VERSION + " (schema " +
                           std::to_string(POSTBOX_SCHEMA_VERSION) + ")\n";
  auto cli = test::run_cli({"--version"});
  CAF_CHECK_EQUAL(cli.exit_code, 0);
  CAF_CHECK_EQUAL(cli.out, "postbox" + tail);
  auto node = test::run_shell(test::shell_quote(test::bin_path("postbox-node")) + " --version");
  CAF_CHECK_EQUAL(node.exit_code, 0);
  CAF_CHECK_EQUAL(node.output, "postbox-node" + tail);
}

CAF_TEST(postbox - node has a help and refuses a bad command line with one line) {
  auto node = test::shell_quote(test::bin_path("postbox-node"));
  auto help = test::run_shell(node + " --help 2>/dev/null");
  CAF_CHECK_EQUAL(help.exit_code, 0);
  for (const char* m : {"Usage: postbox-node", "--topology", "--node", "--dsn", "--version",
                        "POSTBOX_TOPOLOGY", "SIGTERM", "Exit codes:"})
    CAF_CHECK(contains(help.output, m));
  // stderr only (stdout to /dev/null): exactly one line.
  auto stderr_of = [&](const std::string& args) {
    return test::run_shell("env -u POSTBOX_TOPOLOGY " + node + " " + args + " 2>&1 >/dev/null");
  };
  auto bogus = stderr_of("--bogus --topology t.yaml --node a");
  CAF_CHECK_EQUAL(bogus.exit_code, 2);
  CAF_CHECK_EQUAL(bogus.output, "postbox-node: unknown option --bogus (see postbox-node --help)\n");
  auto no_node = stderr_of("--topology " + topology);
  CAF_CHECK_EQUAL(no_node.exit_code, 2);
  CAF_CHECK_EQUAL(no_node.output, "postbox-node: --node is required\n");
  auto no_value = stderr_of("--topology " + topology + " --node");
  CAF_CHECK_EQUAL(no_value.exit_code, 2);
  CAF_CHECK_EQUAL(no_value.output, "postbox-node: --node needs a value\n");
}

CAF_TEST(submit upload wait and status as json) {
  auto dsn = test::create_migrated_database("cli");
  for (int i = 0; i < 7; ++i)
    test::write_file(dir + "/docs/sub/f" + std::to_string(i) + ".txt", "file " + std::to_string(i));
  test::node_process a(topology, "a", dsn);
  CAF_REQUIRE(a.start());
  auto env = std::vector<std::string>{"POSTBOX_DSN=" + dsn};
  auto sub = test::run_cli({"--topology", topology, "submit", "--workflow", "docs", "--upload",
                            "--wait", "--json", dir + "/docs"},
                           env);
  CAF_CHECK_EQUAL(sub.exit_code, 0);
  CAF_MESSAGE("submit: " << sub.out << sub.err);
  boost::json::error_code ec;
  auto v = boost::json::parse(sub.out, ec);
  CAF_REQUIRE(!ec && v.is_object());
  auto& o = v.as_object();
  CAF_CHECK_EQUAL(std::string(o.at("status").as_string()), "COMPLETED");
  CAF_CHECK_EQUAL(o.at("files_total").as_int64(), 7);
  CAF_CHECK_EQUAL(o.at("files_done").as_int64(), 7);
  CAF_CHECK_EQUAL(o.at("files_failed").as_int64(), 0);
  CAF_CHECK(o.at("error").is_null());
  std::string id(o.at("execution_id").as_string());
  // --upload: the node read the contents from Postgres, not from the folder.
  CAF_CHECK_EQUAL(test::count(dsn, "SELECT count(*) FROM postbox.blobs"), 7);
  CAF_CHECK_EQUAL(test::count(dsn,
                              "SELECT count(*) FROM postbox.file_results WHERE file_key LIKE "
                              "'blob:%' AND execution_id = '" +
                                  id + "'"),
                  7);
  auto st = test::run_cli({"--dsn", dsn, "status", id, "--json"});
  CAF_CHECK_EQUAL(st.exit_code, 0);
  auto sv = boost::json::parse(st.out, ec);
  CAF_REQUIRE(!ec && sv.is_object());
  for (const char* k :
       {"execution_id", "workflow", "status", "files_total", "files_done", "files_failed", "error"})
    CAF_CHECK(sv.as_object().contains(k));
  auto human = test::run_cli({"--dsn", dsn, "status", id});
  CAF_CHECK(human.out.find("COMPLETED") != std::string::npos);
  auto json_submit =
      test::run_cli({"--dsn", dsn, "submit", "--workflow", "docs", "--json", dir + "/docs"});
  CAF_CHECK_EQUAL(json_submit.exit_code, 0);
  CAF_CHECK(json_submit.out.find("\"status\":\"QUEUED\"") != std::string::npos);
  CAF_CHECK(one_line_error(test::run_cli({"--dsn", dsn, "status", "no-such-id"}), 1,
                           "no execution no-such-id"));
  a.signal(SIGTERM);
  CAF_CHECK_EQUAL(a.wait_exit(15s), 0);
}

// A type no node of the topology handles on the queue would be dead-lettered by the
// consumers' sweep within seconds: `send` refuses it at once, naming the types handled
// there, as the sweep judges them (the nodes' registrations); --force sends it anyway.
CAF_TEST(send refuses a type no node handles on that queue unless forced) {
  auto dsn = test::create_migrated_database("cli_send");
  auto topo = test::write_file(dir + "/tools.yaml", R"(database: { dsn: "${POSTBOX_DSN}" }
nodes:
  a: { actors: [ { queue: executor } ] }
  b: { actors: [ { queue: executor }, { queue: tool_callbacks } ] }
)");
  auto registered = [&](const std::string& name, const std::string& types) {
    test::exec(dsn, "INSERT INTO postbox.nodes (name, host, handled_types) VALUES ('" + name +
                        "', 'h', '" + types + "')");
  };
  auto send = [&](const std::string& queue, const std::string& type, bool force = false) {
    std::vector<std::string> args = {"--topology", topo,  "--dsn",  dsn,  "send",
                                     "--queue",    queue, "--type", type, "--json-payload",
                                     "{}"};
    if (force) args.push_back("--force");
    return test::run_cli(args);
  };
  auto messages = [&] { return test::count(dsn, "SELECT count(*) FROM postbox.mailbox"); };
  // Node b has not started yet: it may handle anything, as the sweep assumes.
  registered("a", "{executor:tool_call}");
  CAF_CHECK_EQUAL(send("executor", "tool_batch").exit_code, 0);
  CAF_CHECK_EQUAL(messages(), 1);
  registered("b", "{executor:tool_batch,tool_callbacks:tool_done}");
  auto refused = send("executor", "tool_cal");
  CAF_CHECK(one_line_error(refused, 2,
                           "no node of the topology handles type 'tool_cal' on queue 'executor' "
                           "(handled there: tool_batch, tool_call); --force sends it anyway"));
  CAF_CHECK_EQUAL(messages(), 1);
  // Without a topology, every registered node counts.
  auto bare = test::run_cli({"--dsn", dsn, "send", "--queue", "tool_callbacks", "--type",
                             "tool_failed", "--json-payload", "{}"});
  CAF_CHECK(one_line_error(bare, 2,
                           "no node handles type 'tool_failed' on queue "
                           "'tool_callbacks' (handled there: tool_done)"));
  CAF_CHECK_EQUAL(messages(), 1);
  // Handled types, a queue where nothing is handled, and --force all go through.
  CAF_CHECK_EQUAL(send("executor", "tool_call").exit_code, 0);
  CAF_CHECK_EQUAL(send("executor", "tool_batch").exit_code, 0);
  CAF_CHECK_EQUAL(send("sink", "anything").exit_code, 0);
  auto forced = send("executor", "tool_cal", true);
  CAF_CHECK_EQUAL(forced.exit_code, 0);
  CAF_CHECK_EQUAL(messages(), 5);
  CAF_CHECK_EQUAL(test::count(dsn, "SELECT count(*) FROM postbox.mailbox WHERE type = 'tool_cal'"),
                  1);
}

// Keyed actors from the command line, on a database alone (no node: the blocks are
// made as a poisoned head under on_poison hold leaves them): send --actor, actors,
// actor show, and retry / skip / drop of a blocked key, each refused on a key that is
// not blocked or does not exist.
CAF_TEST(actor commands send list show and unblock a key held by its head) {
  auto dsn = test::create_migrated_database("cli_actors");
  auto cli = [&](std::vector<std::string> args) {
    return test::run_cli(plus({"--dsn", dsn}, args));
  };
  auto n = [&](const std::string& sql) { return test::count(dsn, sql); };
  auto json_of = [](const std::string& text) {
    boost::json::error_code ec;
    auto v = boost::json::parse(text, ec);
    if (ec) CAF_FAIL("not JSON: " << text);
    return v;
  };
  // Held as actor_block.sql holds a poisoned head: parked again, the actor blocked.
  auto block = [&](const std::string& key) {
    test::exec(dsn,
               "UPDATE postbox.mailbox SET visible_at = 'infinity', receipt = NULL, "
               "last_error = 'poisoned on purpose' WHERE id = (SELECT head_id FROM "
               "postbox.actors WHERE actor_type = 'tally' AND actor_key = '" +
                   key +
                   "');"
                   "UPDATE postbox.actors SET blocked_at = now(), blocked_reason = 'poisoned "
                   "on purpose' WHERE actor_type = 'tally' AND actor_key = '" +
                   key + "'");
  };
  // No node serves tally yet: refused unless the queue is named.
  CAF_CHECK(
      one_line_error(cli({"send", "--actor", "tally/k1", "--type", "step", "--json-payload", "{}"}),
                     2, "actor type 'tally' is not served by any node yet"));
  CAF_CHECK(one_line_error(cli({"send", "--type", "step", "--json-payload", "{}"}), 2,
                           "--queue is required (or --actor TYPE/KEY"));
  CAF_CHECK_EQUAL(n("SELECT count(*) FROM postbox.mailbox"), 0);
  test::exec(dsn, "INSERT INTO postbox.actor_types (actor_type, queue) VALUES ('tally', 'keyed')");
  // k1's first message carries an on_error: skip sends it, drop would not.
  const std::string on_error = R"({"queue": "errors", "type": "oops", "payload": {}})";
  auto first = cli({"--json", "send", "--actor", "tally/k1", "--type", "step", "--json-payload",
                    R"({"n": 1})", "--on-error", on_error});
  CAF_REQUIRE_EQUAL(first.exit_code, 0);
  auto sent = json_of(first.out).as_object();
  CAF_CHECK_EQUAL(sent.at("queue").as_string(), "keyed");
  CAF_CHECK_EQUAL(sent.at("actor").as_string(), "tally/k1");
  for (int i = 2; i <= 4; ++i)
    CAF_CHECK_EQUAL(cli({"send", "--actor", "tally/k1", "--type", "step", "--json-payload",
                         "{\"n\": " + std::to_string(i) + "}", "--on-error", on_error})
                        .exit_code,
                    0);
  // The key may hold '/'; --queue names the queue (the actor's: another is refused).
  CAF_CHECK_EQUAL(cli({"send", "--actor", "tally/k/2", "--queue", "keyed", "--type", "step",
                       "--json-payload", "{}"})
                      .exit_code,
                  0);
  CAF_CHECK(one_line_error(cli({"send", "--actor", "tally/k/2", "--queue", "other", "--type",
                                "step", "--json-payload", "{}"}),
                           1, "lives on queue \"keyed\""));
  CAF_CHECK_EQUAL(n("SELECT count(*) FROM postbox.mailbox WHERE actor_key = 'k1'"), 4);
  CAF_CHECK_EQUAL(n("SELECT count(*) FROM postbox.mailbox WHERE actor_key = 'k/2'"), 1);
  block("k1");
  // actors: blocked first; --blocked only those; as JSON.
  auto all = cli({"actors"});
  CAF_CHECK_EQUAL(all.exit_code, 0);
  CAF_CHECK(all.out.find("TYPE") == 0);
  CAF_CHECK(contains(all.out, "KEYS WITH BACKLOG"));
  CAF_CHECK(all.out.find("k1") < all.out.find("k/2"));
  CAF_CHECK(contains(all.out, "poisoned on purpose"));
  // The types: tally (registered) with two keys at work, one blocked.
  auto types = json_of(cli({"--json", "actors"}).out).at("types").as_array();
  CAF_REQUIRE_EQUAL(types.size(), 1u);
  CAF_CHECK_EQUAL(types[0].at("actor_type").as_string(), "tally");
  CAF_CHECK_EQUAL(types[0].at("queue").as_string(), "keyed");
  CAF_CHECK_EQUAL(types[0].at("on_poison").as_string(), "hold");
  CAF_CHECK_EQUAL(types[0].at("keys_with_backlog").as_int64(), 2);
  CAF_CHECK_EQUAL(types[0].at("blocked").as_int64(), 1);
  auto blocked = json_of(cli({"--json", "actors", "--blocked"}).out).at("actors").as_array();
  CAF_REQUIRE_EQUAL(blocked.size(), 1u);
  CAF_CHECK_EQUAL(blocked[0].at("actor_key").as_string(), "k1");
  CAF_CHECK_EQUAL(blocked[0].at("backlog").as_int64(), 4);
  CAF_CHECK_EQUAL(blocked[0].at("blocked").as_bool(), true);
  auto nobody = json_of(cli({"--json", "actors", "--type", "nobody"}).out);
  CAF_CHECK_EQUAL(nobody.at("types").as_array().size(), 0u);
  CAF_CHECK_EQUAL(nobody.at("actors").as_array().size(), 0u);
  // show: state, version, head, backlog, why blocked.
  auto shown = json_of(cli({"--json", "actor", "show", "tally", "k1"}).out).as_object();
  CAF_CHECK_EQUAL(shown.at("state_version").as_int64(), 0);
  CAF_CHECK(shown.at("state").is_null());
  CAF_CHECK_EQUAL(shown.at("backlog").as_int64(), 4);
  CAF_CHECK_EQUAL(shown.at("blocked_reason").as_string(), "poisoned on purpose");
  const int64_t head = shown.at("head_id").as_int64();
  auto table = cli({"actor", "show", "tally", "k1"});
  CAF_CHECK_EQUAL(table.exit_code, 0);
  CAF_CHECK(contains(table.out, "message " + std::to_string(head)));
  CAF_CHECK(one_line_error(cli({"actor", "show", "tally", "nope"}), 1, "no actor tally/nope"));
  // Refused, nothing changed: not blocked, or no such actor.
  for (const char* verb : {"retry", "skip", "drop"}) {
    CAF_CHECK(one_line_error(cli({"actor", verb, "tally", "k/2"}), 1,
                             std::string("actor ") + verb +
                                 " refused: invalid_argument: actor tally/k/2 is not blocked"));
    CAF_CHECK(one_line_error(cli({"actor", verb, "tally", "nope"}), 1, "no actor tally/nope"));
  }
  CAF_CHECK_EQUAL(n("SELECT count(*) FROM postbox.dead_letters"), 0);
  CAF_CHECK_EQUAL(n("SELECT count(*) FROM postbox.mailbox"), 5);
  // skip: the head is dead-lettered by the poison path (its on_error sent) and the
  // key's next message is its head at once, claimable, the key no longer blocked.
  auto skipped = cli({"--json", "actor", "skip", "tally", "k1"});
  CAF_CHECK_EQUAL(skipped.exit_code, 0);
  CAF_CHECK_EQUAL(json_of(skipped.out).at("message_id").as_int64(), head);
  CAF_CHECK_EQUAL(
      n("SELECT count(*) FROM postbox.dead_letters WHERE message_id = " + std::to_string(head) +
        " AND actor_key = 'k1' AND reason LIKE '%skipped by an operator%' AND "
        "reason LIKE '%poisoned on purpose%' AND dead_by LIKE '%actor skip%'"),
      1);
  CAF_CHECK_EQUAL(n("SELECT count(*) FROM postbox.mailbox WHERE queue = 'errors'"), 1);
  CAF_CHECK_EQUAL(n("SELECT count(*) FROM postbox.actors a JOIN postbox.mailbox m ON "
                    "m.id = a.head_id WHERE a.actor_key = 'k1' AND a.blocked_at IS NULL AND "
                    "m.actor_seq = 2 AND m.visible_at <= now()"),
                  1);
  // retry: the blocked head runs again (visible, attempts forgiven), order kept.
  test::exec(dsn,
             "UPDATE postbox.mailbox SET attempts = 2 WHERE actor_key = 'k1' AND "
             "actor_seq = 2");
  block("k1");
  auto retried = cli({"actor", "retry", "tally", "k1"});
  CAF_CHECK_EQUAL(retried.exit_code, 0);
  CAF_CHECK(contains(retried.out, "runs again"));
  CAF_CHECK_EQUAL(n("SELECT count(*) FROM postbox.actors a JOIN postbox.mailbox m ON "
                    "m.id = a.head_id WHERE a.actor_key = 'k1' AND a.blocked_at IS NULL AND "
                    "m.actor_seq = 2 AND m.attempts = 0 AND m.visible_at <= now()"),
                  1);
  // drop: the head and the rest of k1's queue go to dead letters, no on_error, and the
  // key goes on empty: the next send to it becomes its head.
  block("k1");
  auto dropped = cli({"--json", "actor", "drop", "tally", "k1"});
  CAF_CHECK_EQUAL(dropped.exit_code, 0);
  CAF_CHECK_EQUAL(json_of(dropped.out).at("dead_letters").as_array().size(), 3u);
  CAF_CHECK_EQUAL(n("SELECT count(*) FROM postbox.mailbox WHERE actor_key = 'k1'"), 0);
  CAF_CHECK_EQUAL(n("SELECT count(*) FROM postbox.dead_letters WHERE actor_key = 'k1' AND "
                    "reason LIKE '%dropped by an operator%'"),
                  3);
  CAF_CHECK_EQUAL(n("SELECT count(*) FROM postbox.mailbox WHERE queue = 'errors'"), 1);
  CAF_CHECK_EQUAL(n("SELECT count(*) FROM postbox.actors WHERE actor_key = 'k1' AND "
                    "head_id IS NULL AND blocked_at IS NULL"),
                  1);
  CAF_CHECK(one_line_error(cli({"actor", "drop", "tally", "k1"}), 1, "is not blocked"));
  CAF_CHECK_EQUAL(
      cli({"send", "--actor", "tally/k1", "--type", "step", "--json-payload", R"({"n": 5})"})
          .exit_code,
      0);
  test::exec(dsn, "SELECT postbox.actor_promote('keyed', 10)");
  CAF_CHECK_EQUAL(n("SELECT count(*) FROM postbox.actors a JOIN postbox.mailbox m ON "
                    "m.id = a.head_id WHERE a.actor_key = 'k1' AND m.payload->>'n' = '5' AND "
                    "m.visible_at <= now()"),
                  1);
  CAF_CHECK_EQUAL(n("SELECT count(*) FROM postbox.mailbox WHERE actor_key = 'k/2'"), 1);
}

CAF_TEST_FIXTURE_SCOPE_END()

// The Python example (apps/examples/python) as its README runs it: enqueue.py's one
// transaction (committed, and rolled back), node `py` (postbox-node serving the executor
// queue with worker.py) and node `callbacks` (postbox-example-tools) from a copy of
// python.yaml, continuations into tool_outcomes, a worker killed mid call, and `postbox
// ask` answered by the Python worker. Without a python3 that imports psycopg each test
// says SKIPPED and checks nothing (`make deps` installs python3-psycopg).
#define CAF_SUITE python_example
#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>

#include <boost/json.hpp>
#include <caf/test/unit_test.hpp>
#include <csignal>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <memory>
#include <sstream>

#include "support/node_process.hpp"
#include "support/pg_fixture.hpp"

extern char** environ;

using namespace postbox;
using postbox::test::read_text;
using postbox::test::source_path;
using namespace std::chrono_literals;

namespace {

std::string trimmed(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
  return s;
}

/// Runs `argv` (argv[0] looked up on PATH) and waits: exit code, stdout, stderr.
test::cli_result run(const std::vector<std::string>& args) {
  auto dir = test::make_temp_dir("run");
  std::vector<std::string> argv_s = args;
  std::vector<char*> argv;
  for (auto& a : argv_s) argv.push_back(a.data());
  argv.push_back(nullptr);
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&fa, 1, (dir + "/out").c_str(), O_WRONLY | O_CREAT, 0644);
  posix_spawn_file_actions_addopen(&fa, 2, (dir + "/err").c_str(), O_WRONLY | O_CREAT, 0644);
  pid_t pid = -1;
  test::cli_result r;
  if (posix_spawnp(&pid, argv[0], &fa, nullptr, argv.data(), environ) == 0) {
    int status = 0;
    ::waitpid(pid, &status, 0);
    r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  }
  posix_spawn_file_actions_destroy(&fa);
  r.out = read_text(dir + "/out");
  r.err = read_text(dir + "/err");
  return r;
}

/// The python3 that runs enqueue.py and worker.py: $POSTBOX_PYTHON if set, else the first
/// that imports psycopg of Debian's (python3-psycopg serves /usr/bin/python3, which a
/// pyenv or venv python3 first on PATH does not see) and python3 on PATH. "" if none.
std::string python_with_psycopg() {
  std::vector<std::string> candidates = {"/usr/bin/python3", "python3"};
  if (const char* p = std::getenv("POSTBOX_PYTHON"); p && *p) candidates = {p};
  for (const auto& python : candidates)
    if (run({python, "-c", "import psycopg"}).exit_code == 0) return python;
  return "";
}

/// Whether two texts are the same JSON document, whatever their spacing.
bool same_json(const std::string& got, const std::string& want) {
  boost::json::error_code ec;
  auto v = boost::json::parse(got, ec);
  bool same = !ec && v == boost::json::parse(want);
  if (!same) CAF_MESSAGE("expected JSON " << want << ", got: " << got);
  return same;
}

/// The processes running worker.py under `node` (the programs it keeps): each is the
/// child of a shim that is the node's child (child_process).
std::vector<pid_t> worker_pids(pid_t node) {
  std::map<long, long> parent;
  std::vector<long> workers;
  std::error_code ec;
  for (auto it = std::filesystem::directory_iterator("/proc", ec);
       !ec && it != std::filesystem::directory_iterator(); it.increment(ec)) {
    auto name = it->path().filename().string();
    if (name.find_first_not_of("0123456789") != std::string::npos) continue;
    auto stat = read_text(it->path().string() + "/stat");
    auto comm_end = stat.rfind(')');  // the fields after comm: state, ppid, ...
    if (comm_end == std::string::npos) continue;
    std::istringstream rest(stat.substr(comm_end + 1));
    std::string state;
    long ppid = 0;
    rest >> state >> ppid;
    const long pid = std::stol(name);
    parent[pid] = ppid;
    if (read_text(it->path().string() + "/cmdline").find("worker.py") != std::string::npos)
      workers.push_back(pid);
  }
  std::vector<pid_t> out;
  for (long w : workers) {
    auto shim = parent.find(parent[w]);
    if (shim != parent.end() && shim->second == node) out.push_back(static_cast<pid_t>(w));
  }
  return out;
}

struct fixture {
  std::string python = python_with_psycopg();
  std::string dsn = test::create_migrated_database("python");
  std::string dir = test::make_temp_dir("python");
  std::string enqueue = source_path("apps/examples/python/enqueue.py");

  fixture() {
    test::exec(dsn, read_text(source_path("apps/examples/tools/schema.sql")));
    test::exec(dsn, read_text(source_path("apps/examples/python/schema.sql")));
  }

  /// True (and says why) when there is no python3 with psycopg: the test checks nothing.
  bool skipped() const {
    if (!python.empty()) return false;
    std::string reason =
        "no python3 imports psycopg (make deps installs python3-psycopg; "
        "POSTBOX_PYTHON names another python3)";
    CAF_MESSAGE("SKIPPED: " << reason);
    std::cerr << "python_example: SKIPPED (not failed): " << reason << std::endl;
    return true;
  }

  /// apps/examples/python/python.yaml with short leases and polls, run by the python3
  /// that has psycopg; everything else (program, queues, nodes) as shipped.
  std::string topology() {
    auto yaml = read_text(source_path("apps/examples/python/python.yaml"));
    auto replace = [&](const std::string& from, const std::string& to) {
      auto at = yaml.find(from);
      CAF_REQUIRE(at != std::string::npos);
      while (at != std::string::npos) {
        yaml.replace(at, from.size(), to);
        at = yaml.find(from, at + to.size());
      }
    };
    replace("visibility_timeout: 30s", "visibility_timeout: 2s, poll_interval: 200ms");
    replace("argv: [python3,", "argv: [\"" + python + "\",");
    return test::write_file(dir + "/python.yaml", yaml);
  }

  /// A node of that topology, started as the README starts it: the worker's relative
  /// path resolved through POSTBOX_EXAMPLES, ports from the environment (0: none).
  std::unique_ptr<test::node_process> node(const std::string& topo, const std::string& name,
                                           const std::string& binary) {
    auto p = std::make_unique<test::node_process>(
        topo, name, dsn,
        std::vector<std::string>{"POSTBOX_EXAMPLES=" + source_path("apps/examples"),
                                 "PY_CONTROL_PORT=0", "PY_HTTP_PORT=0", "CALLBACKS_CONTROL_PORT=0",
                                 "CALLBACKS_HTTP_PORT=0"});
    p->use_binary(binary);
    CAF_REQUIRE(p->start());
    // Started: it takes SIGTERM as a drain from here on (an early one would kill it).
    auto& started = *p;
    if (!test::wait_until([&] { return started.log().find("node started") != std::string::npos; },
                          20s, 50ms))
      CAF_FAIL("node " << name << " did not start:\n" << started.log());
    return p;
  }

  test::cli_result enqueue_py(std::vector<std::string> args) {
    args.insert(args.begin(), {python, enqueue, "--dsn", dsn});
    auto r = run(args);
    if (r.exit_code != 0) CAF_MESSAGE("enqueue.py: " << r.err);
    return r;
  }

  long long n(const std::string& sql) { return test::count(dsn, sql); }
  std::string text(const std::string& sql) { return test::scalar(dsn, sql); }
  bool outcomes(long long want, std::chrono::milliseconds deadline = 30s) {
    return test::wait_until([&] { return n("SELECT count(*) FROM tool_outcomes") >= want; },
                            deadline, 100ms);
  }
  bool mailbox_empty() {
    return test::wait_until([&] { return n("SELECT count(*) FROM postbox.mailbox") == 0; }, 15s,
                            100ms);
  }
  void dump(const test::node_process& p) { CAF_MESSAGE("log of node:\n" << p.log()); }
};

}  // namespace

CAF_TEST_FIXTURE_SCOPE(python_example_tests, fixture)

CAF_TEST(enqueue submit commits the upload with its execution and a rollback leaves neither) {
  if (skipped()) return;
  // The workflow as node `py` records it at start (python.yaml), before any node runs,
  // so the rows are compared before a node moves them on.
  test::exec(dsn,
             "INSERT INTO postbox.workflows (name, processor, batch_size, recorded_by) "
             "VALUES ('docs', 'checksum', 10, 'test')");
  auto a = test::write_file(dir + "/in/a.txt", "alpha");
  auto b = test::write_file(dir + "/in/b.txt", "beta");
  auto r = enqueue_py({"submit", "--workflow", "docs", "--label", "first", a, b});
  CAF_REQUIRE_EQUAL(r.exit_code, 0);
  auto id = trimmed(r.out);
  CAF_REQUIRE_EQUAL(id.size(), 36u);  // a uuid, and nothing else on stdout
  CAF_CHECK_EQUAL(
      n("SELECT count(*) FROM uploads WHERE label = 'first' AND execution_id = '" + id + "'"), 1);
  CAF_CHECK_EQUAL(n("SELECT count(*) FROM postbox.executions WHERE id = '" + id + "'"), 1);
  // The same rows that postbox.submit creates when called directly on the same files.
  auto direct = text("SELECT postbox.submit('docs', ARRAY['" + a + "', '" + b + "'])");
  CAF_REQUIRE(!direct.empty());
  auto execution = [&](const std::string& e) {
    return text(
        "SELECT ROW(org, workflow, status, batch_size, files_total, files_done, headers)::text "
        "FROM postbox.executions WHERE id = '" +
        e + "'");
  };
  auto message = [&](const std::string& e) {
    return text(
        "SELECT ROW(queue, type, org, payload - 'execution_id', headers, read_ct)::text FROM "
        "postbox.mailbox WHERE execution_id = '" +
        e + "'");
  };
  CAF_CHECK_EQUAL(execution(id), execution(direct));
  CAF_CHECK_EQUAL(message(id), message(direct));
  CAF_CHECK(!message(id).empty());

  // --rollback: the same statements, rolled back; enqueue.py shows nothing remains, and so
  // does the database.
  auto uploads = n("SELECT count(*) FROM uploads");
  auto executions = n("SELECT count(*) FROM postbox.executions");
  auto messages = n("SELECT count(*) FROM postbox.mailbox");
  auto rb = enqueue_py({"submit", "--workflow", "docs", "--label", "gone", "--rollback", a});
  CAF_CHECK_EQUAL(rb.exit_code, 0);
  CAF_MESSAGE("enqueue.py --rollback: " << trimmed(rb.out));
  CAF_CHECK(rb.out.find("rolled back: ") == 0);
  CAF_CHECK_EQUAL(n("SELECT count(*) FROM uploads"), uploads);
  CAF_CHECK_EQUAL(n("SELECT count(*) FROM uploads WHERE label = 'gone'"), 0);
  CAF_CHECK_EQUAL(n("SELECT count(*) FROM postbox.executions"), executions);
  CAF_CHECK_EQUAL(n("SELECT count(*) FROM postbox.mailbox"), messages);
  // An unknown workflow is refused in one line, and nothing is written.
  auto bad = enqueue_py({"submit", "--workflow", "nope", a});
  CAF_CHECK_EQUAL(bad.exit_code, 1);
  CAF_CHECK(bad.err.find("unknown workflow 'nope'") != std::string::npos);
  CAF_CHECK_EQUAL(n("SELECT count(*) FROM uploads"), uploads);

  // The nodes of python.yaml run the submitted execution to COMPLETED.
  auto topo = topology();
  auto py = node(topo, "py", "postbox-node");
  auto callbacks = node(topo, "callbacks", "postbox-example-tools");
  auto completed = [&] {
    return n("SELECT count(*) FROM postbox.executions WHERE status = 'COMPLETED' AND id IN ('" +
             id + "', '" + direct + "')") == 2;
  };
  if (!test::wait_until(completed, 30s, 100ms)) dump(*py);
  CAF_CHECK(completed());
  CAF_CHECK_EQUAL(n("SELECT count(*) FROM postbox.file_results WHERE execution_id = '" + id +
                    "' AND status = 'done'"),
                  2);
  py->signal(SIGTERM);
  callbacks->signal(SIGTERM);
  CAF_CHECK_EQUAL(py->wait_exit(20s), 0);
  CAF_CHECK_EQUAL(callbacks->wait_exit(20s), 0);
}

CAF_TEST(enqueue call chains tool_done and tool_failed once each through the python worker) {
  if (skipped()) return;
  auto topo = topology();
  auto py = node(topo, "py", "postbox-node");
  auto callbacks = node(topo, "callbacks", "postbox-example-tools");
  auto ok = enqueue_py({"call", "--tool", "upper", "--input", "hello", "--call-id", "c-ok"});
  auto bad = enqueue_py({"call", "--tool", "nope", "--input", "x", "--call-id", "c-bad"});
  CAF_REQUIRE_EQUAL(ok.exit_code, 0);
  CAF_REQUIRE_EQUAL(bad.exit_code, 0);
  // The business rows committed with their messages: each names its message.
  CAF_CHECK_EQUAL(n("SELECT count(*) FROM tool_requests WHERE message_id IS NOT NULL"), 2);
  CAF_CHECK_EQUAL(text("SELECT message_id FROM tool_requests WHERE call_id = 'c-ok'"),
                  trimmed(ok.out));
  if (!outcomes(2)) dump(*py);
  CAF_REQUIRE(outcomes(2, 1s));
  CAF_CHECK_EQUAL(n("SELECT count(*) FROM tool_outcomes WHERE call_id = 'c-ok'"), 1);
  CAF_CHECK_EQUAL(n("SELECT count(*) FROM tool_outcomes WHERE call_id = 'c-bad'"), 1);
  CAF_CHECK_EQUAL(text("SELECT status FROM tool_outcomes WHERE call_id = 'c-ok'"), "done");
  CAF_CHECK(same_json(text("SELECT result::text FROM tool_outcomes WHERE call_id = 'c-ok'"),
                      R"({"text": "HELLO"})"));
  auto error = text("SELECT status || ': ' || error FROM tool_outcomes WHERE call_id = 'c-bad'");
  CAF_MESSAGE("tool_failed recorded: " << error);
  CAF_CHECK(error.find("failed: ") == 0);
  CAF_CHECK(error.find("no tool named 'nope' (attempt 1)") != std::string::npos);
  // Each continuation answered its own call (message_id), and the failed call ran once.
  CAF_CHECK_EQUAL(n("SELECT count(*) FROM tool_outcomes o JOIN tool_requests r USING (call_id) "
                    "WHERE o.message_id = r.message_id"),
                  2);
  CAF_CHECK_EQUAL(n("SELECT count(*) FROM postbox.dead_letters WHERE type = 'tool_call' AND "
                    "attempts = 1"),
                  1);
  CAF_CHECK_EQUAL(n("SELECT count(*) FROM postbox.dead_letters"), 1);
  // Nothing left to fire: no second continuation can come.
  CAF_CHECK(mailbox_empty());
  py->signal(SIGTERM);
  callbacks->signal(SIGTERM);
  CAF_CHECK_EQUAL(py->wait_exit(20s), 0);
  CAF_CHECK_EQUAL(callbacks->wait_exit(20s), 0);
  CAF_CHECK_EQUAL(n("SELECT count(*) FROM tool_outcomes"), 2);
  // The worker logged to the node's log, never onto the protocol.
  CAF_CHECK(py->log().find("worker.py: ready") != std::string::npos);
}

CAF_TEST(a worker killed mid call fails only that call and the next call runs) {
  if (skipped()) return;
  auto topo = topology();
  auto py = node(topo, "py", "postbox-node");
  auto callbacks = node(topo, "callbacks", "postbox-example-tools");
  auto slow = enqueue_py({"call", "--tool", "sleep", "--input", "20000", "--call-id", "c-slow"});
  CAF_REQUIRE_EQUAL(slow.exit_code, 0);
  // The call is claimed and a worker runs: kill every worker.py, as the README does.
  std::vector<pid_t> workers;
  CAF_REQUIRE(test::wait_until(
      [&] {
        workers = worker_pids(py->pid());
        return !workers.empty() && n("SELECT count(*) FROM postbox.mailbox WHERE id = " +
                                     trimmed(slow.out) + " AND read_ct > 0") == 1;
      },
      15s, 50ms));
  for (auto pid : workers) ::kill(pid, SIGKILL);
  CAF_MESSAGE("killed " << workers.size() << " worker(s)");
  if (!outcomes(1)) dump(*py);
  CAF_REQUIRE(outcomes(1, 1s));
  auto error = text("SELECT status || ': ' || error FROM tool_outcomes WHERE call_id = 'c-slow'");
  CAF_MESSAGE("tool_failed recorded: " << error);
  CAF_CHECK(error.find("failed: ") == 0);
  CAF_CHECK_EQUAL(n("SELECT count(*) FROM postbox.dead_letters WHERE type = 'tool_call' AND "
                    "attempts = 1"),
                  1);
  // The node starts the worker again: the next call is answered.
  auto next = enqueue_py({"call", "--tool", "upper", "--input", "again", "--call-id", "c-next"});
  CAF_REQUIRE_EQUAL(next.exit_code, 0);
  if (!outcomes(2)) dump(*py);
  CAF_CHECK(same_json(text("SELECT result::text FROM tool_outcomes WHERE call_id = 'c-next' AND "
                           "status = 'done'"),
                      R"({"text": "AGAIN"})"));
  CAF_CHECK(mailbox_empty());
  CAF_CHECK_EQUAL(n("SELECT count(*) FROM tool_outcomes"), 2);
  py->signal(SIGTERM);
  callbacks->signal(SIGTERM);
  CAF_CHECK_EQUAL(py->wait_exit(20s), 0);
  CAF_CHECK_EQUAL(callbacks->wait_exit(20s), 0);
}

CAF_TEST(postbox ask is answered by the python worker) {
  if (skipped()) return;
  auto topo = topology();
  auto py = node(topo, "py", "postbox-node");
  auto r = test::run_cli({"--topology", topo, "--dsn", dsn, "ask", "--queue", "executor", "--type",
                          "tool_call", "--json-payload", R"({"tool":"upper","input":"hi"})",
                          "--timeout", "30s"});
  if (r.exit_code != 0) dump(*py);
  CAF_CHECK_EQUAL(r.exit_code, 0);
  CAF_CHECK(same_json(r.out, R"({"text": "HI"})"));
  if (r.exit_code != 0) CAF_MESSAGE("ask: " << r.err);
  // A call the worker fails ends in the dead letters: ask says so in one line, non-zero.
  auto failed = test::run_cli({"--topology", topo, "--dsn", dsn, "ask", "--queue", "executor",
                               "--type", "tool_call", "--json-payload",
                               R"({"tool":"nope","input":"x"})", "--timeout", "30s"});
  CAF_MESSAGE("ask of an unknown tool: " << trimmed(failed.err));
  CAF_CHECK(failed.exit_code != 0);
  CAF_CHECK(!trimmed(failed.err).empty());
  CAF_CHECK(trimmed(failed.err).find('\n') == std::string::npos);
  CAF_CHECK_EQUAL(n("SELECT count(*) FROM postbox.dead_letters WHERE type = 'tool_call'"), 1);
  py->signal(SIGTERM);
  CAF_CHECK_EQUAL(py->wait_exit(20s), 0);
}

CAF_TEST_FIXTURE_SCOPE_END()

// Handlers as external programs, end to end: a real postbox-node runs a Python test
// program (tests/support/programs/echo_program.py) on queue `work`, two processes.
// Messages carry on_success / on_error continuations to queue `seen`, which nobody
// consumes: each continuation that fired is a row there, so "fired once" is a count.
#define CAF_SUITE programs
#include <unistd.h>

#include <caf/test/unit_test.hpp>
#include <csignal>
#include <filesystem>
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

/// Running (a zombie, killed but not yet reaped by its parent, counts as gone).
bool process_alive(pid_t pid) {
  if (pid <= 0 || ::kill(pid, 0) != 0) return false;
  std::string stat = read_text("/proc/" + std::to_string(pid) + "/stat");
  auto close = stat.rfind(')');
  return close != std::string::npos && close + 2 < stat.size() && stat[close + 2] != 'Z';
}

/// Debian's interpreter when there is one: a version manager's shim on PATH (pyenv)
/// adds a slow start to every process.
std::string python() {
  return ::access("/usr/bin/python3", X_OK) == 0 ? "/usr/bin/python3" : "python3";
}

struct fixture {
  std::string dsn = test::create_migrated_database("programs");
  std::string dir = test::make_temp_dir("programs");

  std::string topology(const std::string& max_handler_time = "1m", int max_attempts = 2,
                       const std::string& argv0 = python(), const std::string& extra_env = "") {
    return test::write_file(dir + "/programs.yaml", R"(cluster: programs
database: { dsn: "${POSTBOX_DSN}" }
queues:
  work: { visibility_timeout: 2s, max_attempts: )" + std::to_string(max_attempts) +
                                                        R"(, max_handler_time: )" +
                                                        max_handler_time +
                                                        R"(, poll_interval: 200ms }
programs:
  echo:
    argv: [")" + argv0 + R"(", ")" + source_path("tests/support/programs/echo_program.py") +
                                                        R"("]
    queue: work
    types: [job]
    concurrency: 2
    env: { PYTHONDONTWRITEBYTECODE: "1")" + extra_env + R"( }
nodes:
  p:
    actors:
      - { program: echo }
)");
  }

  std::unique_ptr<test::node_process> node(const std::string& topo) {
    auto p = std::make_unique<test::node_process>(topo, "p", dsn);
    CAF_REQUIRE(p->start());
    return p;
  }

  /// Sends a job through the SQL API with continuations naming `tag`; its message id.
  long long job(const std::string& tag, const std::string& payload,
                const std::string& extra_headers = "") {
    return std::stoll(text(
        "SELECT postbox.send('work', 'job', '" + payload +
        "'::jsonb, headers => '{\"on_success\": {\"queue\": \"seen\", \"type\": \"ok\", "
        "\"payload\": {\"tag\": \"" +
        tag +
        "\"}}, \"on_error\": {\"queue\": \"seen\", \"type\": \"error\", \"payload\": {\"tag\": "
        "\"" +
        tag + "\"}}" + extra_headers + "}'::jsonb)"));
  }

  long long n(const std::string& sql) { return test::count(dsn, sql); }
  std::string text(const std::string& sql) { return test::scalar(dsn, sql); }
  /// Continuations of `tag` of `type` (ok or error) that fired.
  long long fired(const std::string& tag, const std::string& type) {
    return n("SELECT count(*) FROM postbox.mailbox WHERE queue = 'seen' AND type = '" + type +
             "' AND payload->>'tag' = '" + tag + "'");
  }
  std::string seen(const std::string& tag, const std::string& field) {
    return text("SELECT payload->>'" + field +
                "' FROM postbox.mailbox WHERE queue = 'seen' AND payload->>'tag' = '" + tag + "'");
  }
  bool work_done(std::chrono::milliseconds deadline = 30s) {
    return test::wait_until(
        [&] { return n("SELECT count(*) FROM postbox.mailbox WHERE queue = 'work'") == 0; },
        deadline, 100ms);
  }
};

}  // namespace

CAF_TEST_FIXTURE_SCOPE(programs_tests, fixture)

CAF_TEST(a program answers success failure rejection sends replies and logs stderr) {
  auto topo = topology();
  auto p = node(topo);
  auto ok_id = job("ok", R"({"do": "ok", "value": 41})", R"(, "reply_key": "k-ok")");
  job("error", R"({"do": "error"})");
  job("reject", R"({"do": "reject"})");
  auto send_id = job("send", R"({"do": "send"})");
  auto err_id = job("stderr", R"({"do": "stderr"})");
  CAF_REQUIRE(work_done());
  // Success: on_success once, with the program's result; the reply stored once.
  CAF_CHECK_EQUAL(fired("ok", "ok"), 1);
  CAF_CHECK_EQUAL(fired("ok", "error"), 0);
  CAF_CHECK_EQUAL(text("SELECT payload->'result'->>'value' FROM postbox.mailbox WHERE queue = "
                       "'seen' AND payload->>'tag' = 'ok'"),
                  "41");
  CAF_CHECK_EQUAL(text("SELECT payload->'result'->>'attempt' FROM postbox.mailbox WHERE queue = "
                       "'seen' AND payload->>'tag' = 'ok'"),
                  "1");
  CAF_CHECK_EQUAL(seen("ok", "message_id"), std::to_string(ok_id));
  CAF_CHECK_EQUAL(n("SELECT count(*) FROM postbox.replies WHERE reply_key = 'k-ok' AND "
                    "body = '{\"value\": 41}' AND message_id = " +
                    std::to_string(ok_id)),
                  1);
  // A failure is an attempt: two (max_attempts 2), then the dead letter and on_error once.
  CAF_CHECK_EQUAL(fired("error", "error"), 1);
  CAF_CHECK_EQUAL(fired("error", "ok"), 0);
  auto error = seen("error", "error");
  CAF_MESSAGE("on_error of a failing program: " << error);
  CAF_CHECK(error.find("program echo: asked to fail (attempt 2)") != std::string::npos);
  CAF_CHECK_EQUAL(n("SELECT count(*) FROM postbox.dead_letters WHERE attempts = 2 AND "
                    "payload->>'do' = 'error'"),
                  1);
  // retry false: dead-lettered after its first attempt.
  CAF_CHECK_EQUAL(fired("reject", "error"), 1);
  CAF_CHECK(seen("reject", "error").find("rejected for good") != std::string::npos);
  CAF_CHECK_EQUAL(n("SELECT count(*) FROM postbox.dead_letters WHERE read_ct = 1 AND "
                    "payload->>'do' = 'reject'"),
                  1);
  // send: both messages enqueued with the ack, inheriting nothing but what they say.
  CAF_CHECK_EQUAL(n("SELECT count(*) FROM postbox.mailbox WHERE queue = 'sink' AND type = "
                    "'sunk' AND payload->>'from' = '" +
                    std::to_string(send_id) + "'"),
                  2);
  CAF_CHECK_EQUAL(fired("send", "ok"), 1);
  CAF_CHECK_EQUAL(fired("stderr", "ok"), 1);
  CAF_CHECK_EQUAL(n("SELECT count(*) FROM postbox.dead_letters"), 2);
  // stderr went to the node's log, tagged with the program and the message.
  CAF_CHECK(test::wait_until(
      [&] {
        return p->log().find("message " + std::to_string(err_id) + ": hello from stderr") !=
               std::string::npos;
      },
      5s));
  p->signal(SIGTERM);
  CAF_CHECK_EQUAL(p->wait_exit(20s), 0);
}

CAF_TEST(a program sends to an actor as keyed messages in order) {
  // Actor type `ledger` lives on queue `ledger_q`, which nobody here consumes: the
  // messages stay to be looked at (numbered in order, the first the key's head).
  test::exec(dsn,
             "INSERT INTO postbox.actor_types (actor_type, queue) VALUES ('ledger', "
             "'ledger_q')");
  auto p = node(topology());
  auto id = job("actor", R"({"do": "send_actor", "actor_type": "ledger", "key": "k1"})");
  job("bad", R"({"do": "send_actor_bad", "key": "k2"})");
  job("unknown", R"({"do": "send_actor", "actor_type": "nobody", "key": "k3"})");
  CAF_REQUIRE(work_done());
  CAF_CHECK_EQUAL(fired("actor", "ok"), 1);
  CAF_CHECK_EQUAL(text("SELECT string_agg(payload->>'n' || '@' || actor_seq, ',' ORDER BY "
                       "actor_seq) FROM postbox.mailbox WHERE queue = 'ledger_q' AND "
                       "actor_type = 'ledger' AND actor_key = 'k1' AND payload->>'from' = '" +
                       std::to_string(id) + "'"),
                  "0@1,1@2,2@3");
  CAF_CHECK_EQUAL(n("SELECT count(*) FROM postbox.mailbox WHERE actor_key = 'k1' AND "
                    "visible_at = 'infinity'"),
                  2);
  // A delayed message to an actor, an actor type nobody serves: the message fails with
  // the reason, and nothing of its answer is enqueued.
  CAF_CHECK_EQUAL(fired("bad", "error"), 1);
  CAF_MESSAGE("bad: " << seen("bad", "error"));
  CAF_CHECK(seen("bad", "error").find("send[0]: a message to an actor is not delayed") !=
            std::string::npos);
  CAF_CHECK_EQUAL(fired("unknown", "error"), 1);
  CAF_MESSAGE("unknown: " << seen("unknown", "error"));
  CAF_CHECK(seen("unknown", "error").find("nobody") != std::string::npos);
  CAF_CHECK_EQUAL(n("SELECT count(*) FROM postbox.mailbox WHERE actor_key IN ('k2', 'k3')"), 0);
  p->signal(SIGTERM);
  CAF_CHECK_EQUAL(p->wait_exit(20s), 0);
}

CAF_TEST(a program crash fails only its message while its neighbours complete) {
  auto topo = topology();
  auto p = node(topo);
  for (int i = 0; i < 8; ++i) job("n" + std::to_string(i), R"({"do": "slow", "ms": 150})");
  job("crash", R"({"do": "crash"})");
  for (int i = 8; i < 16; ++i) job("n" + std::to_string(i), R"({"do": "slow", "ms": 150})");
  CAF_REQUIRE(work_done(60s));
  CAF_CHECK(p->running());
  for (int i = 0; i < 16; ++i) {
    CAF_CHECK_EQUAL(fired("n" + std::to_string(i), "ok"), 1);
    CAF_CHECK_EQUAL(fired("n" + std::to_string(i), "error"), 0);
  }
  CAF_CHECK_EQUAL(fired("crash", "error"), 1);
  CAF_CHECK_EQUAL(fired("crash", "ok"), 0);
  auto error = seen("crash", "error");
  CAF_MESSAGE("on_error of the crash: " << error);
  CAF_CHECK(error.find("exited with status 3 before answering") != std::string::npos);
  CAF_CHECK(error.find("crashing on purpose") != std::string::npos);
  // Only the culprit was charged; every neighbour ran once.
  CAF_CHECK_EQUAL(n("SELECT count(*) FROM postbox.dead_letters"), 1);
  CAF_CHECK_EQUAL(n("SELECT count(*) FROM postbox.dead_letters WHERE payload->>'do' = 'crash' "
                    "AND attempts = 2"),
                  1);
  CAF_CHECK_EQUAL(n("SELECT count(*) FROM postbox.mailbox WHERE queue = 'seen' AND "
                    "(payload->'result'->>'attempt')::int > 1"),
                  0);
  CAF_CHECK(p->log().find("restarting in") != std::string::npos);
  p->signal(SIGTERM);
  const int rc = p->wait_exit(20s);
  CAF_CHECK_EQUAL(rc, 0);
  if (rc != 0) CAF_MESSAGE("node log after SIGTERM (exit " << rc << "):\n" << p->log());
}

CAF_TEST(a program that hangs past max_handler_time is killed and fails only that message) {
  // A process starts inside its first message's time, and a loaded machine can take
  // seconds to start Python: both processes are started by two slow messages first.
  auto topo = topology("8s", 1);
  auto p = node(topo);
  job("warm1", R"({"do": "slow", "ms": 1500})");
  job("warm2", R"({"do": "slow", "ms": 1500})");
  CAF_REQUIRE(work_done());
  CAF_REQUIRE_EQUAL(fired("warm1", "ok") + fired("warm2", "ok"), 2);
  const std::string pidfile = dir + "/hang.pid";
  job("hang", R"({"do": "hang", "pidfile": ")" + pidfile + R"("})");
  job("beside", R"({"do": "slow", "ms": 100})");
  CAF_REQUIRE(work_done());
  CAF_CHECK_EQUAL(fired("hang", "error"), 1);
  CAF_CHECK_EQUAL(fired("hang", "ok"), 0);
  CAF_CHECK_EQUAL(fired("beside", "ok"), 1);
  auto error = seen("hang", "error");
  CAF_MESSAGE("on_error of the hang: " << error);
  CAF_CHECK(error.find("did not answer within max_handler_time (8s); killed") != std::string::npos);
  pid_t hung = static_cast<pid_t>(std::atol(read_text(pidfile).c_str()));
  CAF_CHECK(hung > 0);
  CAF_CHECK(test::wait_until([&] { return !process_alive(hung); }, 5s));
  // The worker was kept (the program killed, not the thread): nothing stuck.
  CAF_CHECK(p->log().find("stuck in a handler") == std::string::npos);
  // The next message runs on a fresh process.
  job("after", R"({"do": "ok", "value": 1})");
  CAF_REQUIRE(work_done());
  CAF_CHECK_EQUAL(fired("after", "ok"), 1);
  p->signal(SIGTERM);
  CAF_CHECK_EQUAL(p->wait_exit(20s), 0);
}

CAF_TEST(garbage output fails the message and a large answer is stored whole) {
  auto topo = topology("1m", 1);
  auto p = node(topo);
  job("garbage", R"({"do": "garbage"})");
  CAF_REQUIRE(work_done());
  CAF_CHECK_EQUAL(fired("garbage", "error"), 1);
  CAF_CHECK_EQUAL(fired("garbage", "ok"), 0);
  auto error = seen("garbage", "error");
  CAF_MESSAGE("on_error of garbage: " << error);
  CAF_CHECK(error.find("wrote garbage") != std::string::npos);
  CAF_CHECK(error.find("this is not json") != std::string::npos);
  // 5 MB in one answer line.
  job("large", R"({"do": "large", "size": 5000000})");
  CAF_REQUIRE(work_done());
  CAF_CHECK_EQUAL(fired("large", "ok"), 1);
  CAF_CHECK_EQUAL(n("SELECT length(payload->'result'->>'data') FROM postbox.mailbox WHERE queue = "
                    "'seen' AND payload->>'tag' = 'large'"),
                  5000000);
  CAF_CHECK_EQUAL(n("SELECT count(*) FROM postbox.dead_letters"), 1);
  p->signal(SIGTERM);
  CAF_CHECK_EQUAL(p->wait_exit(20s), 0);
}

CAF_TEST(a program killed while idle is restarted without charging the next message) {
  auto topo = topology("1m", 1);
  auto p = node(topo);
  const std::string pidfile = dir + "/idle.pid";
  job("first", R"({"do": "ok", "pidfile": ")" + pidfile + R"("})");
  CAF_REQUIRE(work_done());
  pid_t first = static_cast<pid_t>(std::atol(read_text(pidfile).c_str()));
  CAF_REQUIRE(first > 0);
  ::kill(first, SIGKILL);
  CAF_CHECK(test::wait_until([&] { return !process_alive(first); }, 5s));
  // Both processes may serve it; with max_attempts 1 a charge would dead-letter it.
  for (int i = 0; i < 4; ++i) job("again" + std::to_string(i), R"({"do": "ok"})");
  CAF_REQUIRE(work_done());
  for (int i = 0; i < 4; ++i) CAF_CHECK_EQUAL(fired("again" + std::to_string(i), "ok"), 1);
  CAF_CHECK_EQUAL(n("SELECT count(*) FROM postbox.dead_letters"), 0);
  // A node killed -9 takes its programs with it.
  job("last", R"({"do": "ok", "pidfile": ")" + pidfile + R"("})");
  CAF_REQUIRE(work_done());
  pid_t last = static_cast<pid_t>(std::atol(read_text(pidfile).c_str()));
  CAF_REQUIRE(process_alive(last));
  p->signal(SIGKILL);
  p->wait_exit(10s);
  CAF_CHECK(test::wait_until([&] { return !process_alive(last); }, 5s));
}

// A program gets only what its `env` lists plus PATH, HOME and LANG: not the node's
// POSTBOX_DSN (a password) nor anything else of the node's environment.
CAF_TEST(a program gets only the environment the topology lists) {
  auto topo = topology();
  test::node_process p{topo, "p", dsn, {"NODE_ONLY_SECRET=s3cret"}};
  CAF_REQUIRE(p.start());
  job("env", R"({"do": "env"})");
  CAF_REQUIRE(work_done());
  CAF_REQUIRE_EQUAL(fired("env", "ok"), 1);
  auto var = [&](const std::string& name) {
    return n(
        "SELECT count(*) FROM postbox.mailbox WHERE queue = 'seen' AND "
        "payload->'result'->'env' ? '" +
        name + "'");
  };
  CAF_CHECK_EQUAL(var("PYTHONDONTWRITEBYTECODE"), 1);
  CAF_CHECK_EQUAL(var("PATH"), 1);
  CAF_CHECK_EQUAL(var("NODE_ONLY_SECRET"), 0);
  CAF_CHECK_EQUAL(var("POSTBOX_DSN"), 0);
  CAF_MESSAGE("env: " << seen("env", "result"));
}

// What a program starts dies with the node: a node killed -9 leaves neither the
// program nor its children behind, also a child that left the program's process group.
CAF_TEST(a node killed - 9 leaves no child of its programs behind) {
  auto topo = topology();
  auto p = node(topo);
  job("spawn", R"({"do": "spawn"})");
  CAF_REQUIRE(work_done());
  CAF_REQUIRE_EQUAL(fired("spawn", "ok"), 1);
  std::vector<pid_t> children;
  for (const char* i : {"0", "1"})
    children.push_back(static_cast<pid_t>(std::stol(
        text(std::string("SELECT payload->'result'->'children'->>") + i +
             " FROM postbox.mailbox WHERE queue = 'seen' AND payload->>'tag' = 'spawn'"))));
  for (pid_t c : children) CAF_REQUIRE(process_alive(c));
  p->signal(SIGKILL);
  p->wait_exit(10s);
  for (pid_t c : children)
    CAF_CHECK(test::wait_until([&] { return !process_alive(c); }, 10s, 100ms));
}

// A program that takes 2.5 s to start (as a heavy import would) behind a 1.5 s
// max_handler_time, writing 2,000 lines on stderr first (more than a pipe holds):
// started with the worker and its stderr read while idle, it is ready before the first
// message comes, which then runs at once. Started on the first message instead (as
// before), that message failed: the start-up was spent from its max_handler_time.
// Killed while idle, it is started again without waiting for a message.
CAF_TEST(a program starts with its worker so a slow start costs no message its time) {
  const std::string ready = dir + "/ready";
  std::filesystem::create_directories(ready);
  auto topo = topology("1500ms", 1, python(),
                       ", ECHO_BOOT_MS: \"2500\", ECHO_BOOT_STDERR_LINES: \"2000\", "
                       "ECHO_READY_DIR: \"" +
                           ready + "\"");
  auto p = node(topo);
  auto ready_count = [&] {
    size_t n = 0;
    for ([[maybe_unused]] const auto& e : std::filesystem::directory_iterator(ready)) ++n;
    return n;
  };
  // Both workers' processes (concurrency 2), with no message sent yet.
  CAF_REQUIRE(test::wait_until([&] { return ready_count() == 2; }, 20s, 100ms));
  CAF_CHECK_EQUAL(n("SELECT count(*) FROM postbox.mailbox"), 0);
  for (int i = 0; i < 4; ++i) job("warm" + std::to_string(i), R"({"do": "ok"})");
  CAF_REQUIRE(work_done());
  for (int i = 0; i < 4; ++i) {
    CAF_CHECK_EQUAL(fired("warm" + std::to_string(i), "ok"), 1);
    // Answered by one of the two processes started with the workers.
    auto pid = text(
        "SELECT payload->'result'->>'pid' FROM postbox.mailbox WHERE queue = 'seen' "
        "AND payload->>'tag' = 'warm" +
        std::to_string(i) + "'");
    CAF_CHECK(!pid.empty());
    CAF_CHECK(std::filesystem::exists(ready + "/" + pid));
  }
  CAF_CHECK_EQUAL(n("SELECT count(*) FROM postbox.dead_letters"), 0);
  CAF_CHECK_EQUAL(ready_count(), 2u);  // no process was started again
  CAF_CHECK(p->log().find("booting, step 01999") != std::string::npos);

  // One of them killed while idle: a third process starts and gets ready by itself.
  auto victim = text(
      "SELECT payload->'result'->>'pid' FROM postbox.mailbox WHERE queue = "
      "'seen' AND payload->>'tag' = 'warm0'");
  CAF_REQUIRE(!victim.empty());
  CAF_REQUIRE_EQUAL(::kill(static_cast<pid_t>(std::stol(victim)), SIGKILL), 0);
  CAF_CHECK(test::wait_until([&] { return ready_count() == 3; }, 20s, 100ms));
  CAF_CHECK_EQUAL(n("SELECT count(*) FROM postbox.mailbox WHERE queue = 'work'"), 0);
  CAF_CHECK(p->log().find("while idle") != std::string::npos);
}

CAF_TEST(a node refuses to start a program it cannot find) {
  auto topo = topology("1m", 1, "no-such-program-xyz");
  auto p = node(topo);
  CAF_CHECK_EQUAL(p->wait_exit(20s), 2);
  CAF_CHECK(p->log().find("program echo: cannot start 'no-such-program-xyz': not found on PATH") !=
            std::string::npos);
  CAF_MESSAGE("node log: " << p->log());
}

CAF_TEST_FIXTURE_SCOPE_END()

// A node's HTTP endpoint: /healthz answers 200 while the consumer loops run and
// 503 once they are stale (node frozen with SIGSTOP), and answers at once while the
// database hangs under a dashboard request; /metrics counts the work and shows the
// queues; / is the dashboard.
#define CAF_SUITE node_http
#include <dirent.h>

#include <algorithm>
#include <atomic>
#include <caf/test/unit_test.hpp>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <set>
#include <stdexcept>
#include <thread>
#include <vector>

#include "actors/runtime/node_metrics.hpp"
#include "actors/transports/http_client.hpp"
#include "actors/transports/http_server.hpp"
#include "client/client.hpp"
#include "support/files.hpp"
#include "support/node_process.hpp"
#include "support/pg_fixture.hpp"
#include "support/shell.hpp"

using namespace postbox;
using namespace std::chrono_literals;

namespace {

/// A PostgreSQL cluster of this test's own (tests/harness/pgtest.sh), so that freezing
/// it (SIGSTOP on the postmaster and every backend: a black hole that still accepts
/// TCP) stalls no other test. Always thawed and removed at the end.
class private_cluster {
 public:
  private_cluster() {
    const char* src = std::getenv("POSTBOX_SOURCE_DIR");
    if (!src) throw std::runtime_error("POSTBOX_SOURCE_DIR is not set (run through ctest)");
    script_ = std::string(src) + "/tests/harness/pgtest.sh";
    state_ = test::make_temp_dir("node_http_pg") + "/pgtest.env";
    auto r = test::run_shell(test::shell_quote(script_) + " start " + test::shell_quote(state_));
    if (r.exit_code != 0) throw std::runtime_error("pgtest.sh start: " + r.output);
    std::ifstream in(state_);
    std::string line;
    while (std::getline(in, line)) {
      auto value = line.substr(line.find('=') + 1);
      if (value.size() >= 2 && value.front() == '"') value = value.substr(1, value.size() - 2);
      if (line.rfind("PGTEST_DSN=", 0) == 0) dsn = value;
      if (line.rfind("PGTEST_DIR=", 0) == 0) data_ = value + "/data";
    }
  }
  ~private_cluster() {
    thaw();
    test::run_shell(test::shell_quote(script_) + " stop " + test::shell_quote(state_));
  }

  /// The postmaster first (no new backends), then its children.
  void freeze() {
    pid_t pm = postmaster();
    if (pm <= 0) throw std::runtime_error("no postmaster.pid in " + data_);
    ::kill(pm, SIGSTOP);
    frozen_ = {pm};
    for (pid_t child : children(pm)) {
      ::kill(child, SIGSTOP);
      frozen_.push_back(child);
    }
  }
  void thaw() {
    for (pid_t p : frozen_) ::kill(p, SIGCONT);
    frozen_.clear();
  }
  std::size_t frozen() const { return frozen_.size(); }
  bool postmaster_stopped() {
    std::ifstream stat("/proc/" + std::to_string(postmaster()) + "/stat");
    std::string pid, comm, state;
    stat >> pid >> comm >> state;
    return state == "T";
  }

  std::string dsn;

 private:
  pid_t postmaster() {
    std::ifstream pidfile(data_ + "/postmaster.pid");
    pid_t pid = 0;
    pidfile >> pid;
    return pid;
  }
  static std::vector<pid_t> children(pid_t parent) {
    std::vector<pid_t> out;
    DIR* proc = ::opendir("/proc");
    if (!proc) return out;
    while (dirent* e = ::readdir(proc)) {
      const pid_t pid = static_cast<pid_t>(std::atoi(e->d_name));
      if (pid <= 0) continue;
      std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
      std::string text;
      std::getline(stat, text);
      // "pid (comm) state ppid ...": comm may hold spaces, so parse after ')'.
      auto close = text.rfind(')');
      if (close == std::string::npos) continue;
      char state = 0;
      long ppid = 0;
      if (std::sscanf(text.c_str() + close + 1, " %c %ld", &state, &ppid) == 2 && ppid == parent)
        out.push_back(pid);
    }
    ::closedir(proc);
    return out;
  }

  std::string script_, state_, data_;
  std::vector<pid_t> frozen_;
};

}  // namespace

CAF_TEST(health turns stale when a consumer loop stops) {
  node_metrics m;
  std::string why;
  CAF_CHECK(m.healthy(why));  // no consumers yet
  m.consumer_tick("file_batch", 50ms);
  CAF_CHECK(m.healthy(why));
  CAF_CHECK(test::wait_until([&] { return !m.healthy(why); }, 2s, 10ms));
  CAF_CHECK(why.find("file_batch") != std::string::npos);
  m.consumer_tick("file_batch", 50ms);
  CAF_CHECK(m.healthy(why));
  m.handled("file_batch", "acked");
  m.claimed("file_batch", 3);
  auto text = m.prometheus();
  CAF_CHECK(text.find("postbox_claimed_total{queue=\"file_batch\"} 3") != std::string::npos);
  CAF_CHECK(text.find("postbox_handled_total{queue=\"file_batch\",outcome=\"acked\"} 1") !=
            std::string::npos);
}

CAF_TEST(healthz metrics and dashboard) {
  auto dsn = test::create_migrated_database("http");
  auto dir = test::make_temp_dir("http");
  auto port = test::free_port();
  CAF_REQUIRE_NOT_EQUAL(port, 0);
  auto topology = test::write_file(dir + "/topology.yaml", R"(database: { dsn: "${POSTBOX_DSN}" }
queues:
  file_batch: { visibility_timeout: 1s }
workflows:
  docs: { processor: checksum, batch_size: 2 }
nodes:
  a:
    http_port: )" + std::to_string(port) + R"(
    actors:
      - { role: orchestrator }
      - { role: file_batch, concurrency: 2 }
      - { role: callback }
)");
  test::node_process a(topology, "a", dsn);
  CAF_REQUIRE(a.start());
  auto base = "http://127.0.0.1:" + std::to_string(port);
  CAF_REQUIRE(
      test::wait_until([&] { return http_get(base + "/healthz", 1s).status == 200; }, 10s, 100ms));
  for (int i = 0; i < 4; ++i) test::write_file(dir + "/in/f" + std::to_string(i), "x");
  client c{dsn};
  submit_request req;
  req.workflow = "docs";
  req.paths = {dir + "/in"};
  auto sub = c.submit(req);
  CAF_REQUIRE(sub);
  auto done = c.wait(sub->execution_id, {}, 100ms, 20s);
  CAF_REQUIRE(done);
  auto metrics = http_get(base + "/metrics", 2s);
  CAF_CHECK_EQUAL(metrics.status, 200);
  CAF_CHECK(metrics.body.find("postbox_handled_total{queue=\"file_batch\",outcome=\"acked\"} 2") !=
            std::string::npos);
  CAF_CHECK(metrics.body.find("postbox_queue_depth{queue=\"orchestrator\"} 0") !=
            std::string::npos);
  CAF_CHECK(metrics.body.find("postbox_acks_total{queue=\"file_batch\"} 2") != std::string::npos);
  CAF_CHECK(metrics.body.find("postbox_database_up 1") != std::string::npos);
  auto page = http_get(base + "/", 2s);
  CAF_CHECK_EQUAL(page.status, 200);
  CAF_CHECK(page.body.find(sub->execution_id) != std::string::npos);
  CAF_CHECK_EQUAL(http_get(base + "/nope", 2s).status, 404);
  // A frozen node does not answer at all: a load balancer sees it as down.
  a.signal(SIGSTOP);
  CAF_REQUIRE(test::wait_until([&] { return a.stopped(); }, 5s, 10ms));
  CAF_CHECK_NOT_EQUAL(http_get(base + "/healthz", 500ms).status, 200);
  a.signal(SIGCONT);
  CAF_CHECK(
      test::wait_until([&] { return http_get(base + "/healthz", 1s).status == 200; }, 10s, 100ms));
  a.signal(SIGTERM);
  CAF_CHECK_EQUAL(a.wait_exit(15s), 0);
}

CAF_TEST(healthz answers within a second while the database hangs under a dashboard page) {
  private_cluster pg;
  CAF_REQUIRE(!pg.dsn.empty());
  auto dir = test::make_temp_dir("http_blackhole");
  auto port = test::free_port();
  CAF_REQUIRE_NOT_EQUAL(port, 0);
  auto topology = test::write_file(dir + "/topology.yaml", R"(database: { dsn: "${POSTBOX_DSN}" }
queues:
  file_batch: { visibility_timeout: 2s, poll_interval: 200ms }
workflows:
  docs: { processor: checksum, batch_size: 2 }
nodes:
  a:
    http_port: )" + std::to_string(port) + R"(
    actors:
      - { role: orchestrator }
      - { role: file_batch, concurrency: 1 }
      - { role: callback }
)");
  test::node_process a(topology, "a", pg.dsn);
  CAF_REQUIRE(a.start());
  const auto base = "http://127.0.0.1:" + std::to_string(port);
  if (!test::wait_until([&] { return http_get(base + "/healthz", 1s).status == 200; }, 20s, 100ms))
    CAF_FAIL("the node did not come up: " << a.log());
  CAF_REQUIRE_EQUAL(http_get(base + "/", 5s).status, 200);  // the dashboard's session is open

  pg.freeze();
  CAF_MESSAGE("froze the postmaster and " << pg.frozen() - 1 << " of its processes");
  CAF_REQUIRE(test::wait_until([&] { return pg.postmaster_stopped(); }, 5s, 10ms));
  // A dashboard tab loading: its first query never comes back while the cluster is frozen.
  std::atomic<int> page_status{-1};
  std::thread page([&] { page_status = http_get(base + "/", 120s).status; });
  std::set<int> seen;
  long long slowest = 0;
  int answered = 0;
  for (int i = 0; i < 20; ++i) {
    const auto t0 = std::chrono::steady_clock::now();
    auto r = http_get(base + "/healthz", 1s);
    const auto ms =
        std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0)
            .count();
    slowest = std::max<long long>(slowest, ms);
    seen.insert(r.status);
    if ((r.status == 200 || r.status == 503) && ms < 1000) ++answered;
    std::this_thread::sleep_for(100ms);  // a probe's period, not a wait for a condition
  }
  std::string statuses;
  for (int st : seen) statuses += std::to_string(st) + " ";
  CAF_MESSAGE("/healthz with the database frozen: statuses " << statuses << "slowest " << slowest
                                                             << " ms");
  CAF_CHECK_EQUAL(answered, 20);
  // The page was hanging on the database during every probe above.
  CAF_CHECK_EQUAL(page_status.load(), -1);
  // A second tab waits its turn only so long, then says so.
  auto second = http_get(base + "/", 10s);
  CAF_CHECK_EQUAL(second.status, 503);
  pg.thaw();
  page.join();
  CAF_MESSAGE("the hanging page ended with " << page_status.load());
  CAF_CHECK(page_status.load() == 200 || page_status.load() == 503);
  CAF_CHECK(
      test::wait_until([&] { return http_get(base + "/healthz", 1s).status == 200; }, 20s, 100ms));
  CAF_CHECK_EQUAL(http_get(base + "/", 10s).status, 200);
  a.signal(SIGTERM);
  CAF_CHECK_EQUAL(a.wait_exit(30s), 0);
}

// Node processes and a webhook receiver for end-to-end tests.
#include "support/node_process.hpp"

#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <csignal>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <thread>

#include "actors/transports/http_server.hpp"
#include "support/pg_fixture.hpp"

extern char** environ;

namespace postbox::test {

uint16_t free_port() {
  http_server probe{"127.0.0.1", 0, [](const http_request&) { return http_reply{}; }};
  if (probe.start()) return 0;
  auto port = probe.port();
  probe.stop();
  return port;
}

bool wait_until(const std::function<bool()>& condition, std::chrono::milliseconds deadline,
                std::chrono::milliseconds step) {
  auto until = std::chrono::steady_clock::now() + deadline;
  for (;;) {
    if (condition()) return true;
    if (std::chrono::steady_clock::now() >= until) return false;
    std::this_thread::sleep_for(step);
  }
}

namespace {

std::string slurp(const std::string& path) {
  std::ifstream in(path);
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

}  // namespace

cli_result run_cli(const std::vector<std::string>& args, const std::vector<std::string>& env) {
  auto dir = make_temp_dir("cli");
  std::vector<std::string> all_env;
  for (char** e = environ; *e; ++e) all_env.emplace_back(*e);
  for (const auto& e : env) all_env.push_back(e);
  std::vector<char*> envp;
  for (auto& e : all_env) envp.push_back(e.data());
  envp.push_back(nullptr);
  std::vector<std::string> argv_s = {bin_path("postbox")};
  argv_s.insert(argv_s.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (auto& a : argv_s) argv.push_back(a.data());
  argv.push_back(nullptr);
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 1, (dir + "/out").c_str(), O_WRONLY | O_CREAT, 0644);
  posix_spawn_file_actions_addopen(&fa, 2, (dir + "/err").c_str(), O_WRONLY | O_CREAT, 0644);
  pid_t pid = -1;
  cli_result r;
  if (posix_spawn(&pid, argv[0], &fa, nullptr, argv.data(), envp.data()) == 0) {
    int status = 0;
    ::waitpid(pid, &status, 0);
    r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  }
  posix_spawn_file_actions_destroy(&fa);
  r.out = slurp(dir + "/out");
  r.err = slurp(dir + "/err");
  return r;
}

node_process::node_process(std::string topology, std::string node, std::string dsn,
                           std::vector<std::string> extra_env)
    : topology_(std::move(topology)),
      node_(std::move(node)),
      dsn_(std::move(dsn)),
      env_(std::move(extra_env)) {
  log_ = make_temp_dir("node_" + node_) + "/node.log";
}

node_process::~node_process() {
  if (running()) {
    ::kill(pid_, SIGKILL);
    wait_exit(std::chrono::seconds(10));
  }
}

bool node_process::start() {
  std::vector<std::string> env;
  for (char** e = environ; *e; ++e) env.emplace_back(*e);
  env.push_back("POSTBOX_DSN=" + dsn_);
  for (const auto& e : env_) env.push_back(e);
  std::vector<char*> envp;
  for (auto& e : env) envp.push_back(e.data());
  envp.push_back(nullptr);
  std::vector<std::string> args = {bin_path(binary_), "--topology", topology_, "--node", node_};
  // A test that aborts (CAF_REQUIRE) skips destructors: the node dies with the test
  // process instead of outliving it (setpriv execs the node under the same pid).
  if (::access("/usr/bin/setpriv", X_OK) == 0)
    args.insert(args.begin(), {"/usr/bin/setpriv", "--pdeathsig", "KILL", "--"});
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 1, log_.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
  posix_spawn_file_actions_adddup2(&fa, 1, 2);
  int rc = posix_spawn(&pid_, argv[0], &fa, nullptr, argv.data(), envp.data());
  posix_spawn_file_actions_destroy(&fa);
  exited_ = false;
  return rc == 0;
}

void node_process::signal(int sig) {
  if (pid_ > 0 && !exited_) ::kill(pid_, sig);
}

int node_process::wait_exit(std::chrono::milliseconds timeout) {
  if (pid_ <= 0) return -1;
  auto until = std::chrono::steady_clock::now() + timeout;
  while (!exited_) {
    int status = 0;
    pid_t r = ::waitpid(pid_, &status, WNOHANG);
    if (r == pid_) {
      exited_ = true;
      status_ = status;
      break;
    }
    if (std::chrono::steady_clock::now() >= until) return -1;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return WIFEXITED(status_) ? WEXITSTATUS(status_) : 128 + WTERMSIG(status_);
}

bool node_process::running() {
  if (pid_ <= 0 || exited_) return false;
  return wait_exit(std::chrono::milliseconds(0)) == -1;
}

bool node_process::stopped() {
  std::ifstream stat("/proc/" + std::to_string(pid_) + "/stat");
  std::string pid, comm, state;
  stat >> pid >> comm >> state;
  return state == "T";
}

std::string node_process::log() const {
  return slurp(log_);
}

webhook_receiver::webhook_receiver() {
  server_ = std::make_unique<http_server>("127.0.0.1", 0, [this](const http_request& req) {
    std::lock_guard<std::mutex> guard{mtx_};
    auto key = req.headers.count("idempotency-key") ? req.headers.at("idempotency-key") : "";
    ++by_key_[key];
    bodies_.push_back(req.body);
    return http_reply{200, "text/plain", "ok"};
  });
  if (auto err = server_->start()) throw std::runtime_error("webhook receiver: cannot listen");
}

webhook_receiver::~webhook_receiver() {
  server_->stop();
}

std::string webhook_receiver::url() const {
  return "http://127.0.0.1:" + std::to_string(server_->port()) + "/hook";
}

int webhook_receiver::posts(const std::string& key) const {
  std::lock_guard<std::mutex> guard{mtx_};
  auto i = by_key_.find(key);
  return i == by_key_.end() ? 0 : i->second;
}

int webhook_receiver::total_posts() const {
  std::lock_guard<std::mutex> guard{mtx_};
  int n = 0;
  for (const auto& kv : by_key_) n += kv.second;
  return n;
}

std::vector<std::string> webhook_receiver::bodies() const {
  std::lock_guard<std::mutex> guard{mtx_};
  return bodies_;
}

}  // namespace postbox::test

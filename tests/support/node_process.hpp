// Test support for end-to-end tests: real postbox-node processes (started,
// signalled, killed -9, restarted), an in-process webhook receiver that counts
// POSTs per Idempotency-Key, and waiting on a condition with a deadline.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "support/files.hpp"

namespace postbox {
class http_server;
}

namespace postbox::test {

/// A TCP port on 127.0.0.1 that was free a moment ago (0 if none could be found).
uint16_t free_port();

/// Polls `condition` every `step` until it holds or `deadline` passes.
bool wait_until(const std::function<bool()>& condition, std::chrono::milliseconds deadline,
                std::chrono::milliseconds step = std::chrono::milliseconds(50));

struct cli_result {
  int exit_code = -1;
  std::string out;
  std::string err;
};

/// Runs the built `postbox` client with `args` (extra environment `env`) and waits.
cli_result run_cli(const std::vector<std::string>& args, const std::vector<std::string>& env = {});

class node_process {
 public:
  node_process(std::string topology, std::string node, std::string dsn,
               std::vector<std::string> extra_env = {});
  ~node_process();  // kill -9 if still running

  /// Runs `name` (a node binary in the build tree) instead of postbox-node.
  void use_binary(std::string name) { binary_ = std::move(name); }
  bool start();  // false if the binary could not be spawned
  void signal(int sig);
  /// Waits for the process to end; its exit code, 128+signal, or -1 on timeout.
  int wait_exit(std::chrono::milliseconds timeout);
  bool running();
  /// True while the process is stopped (SIGSTOP).
  bool stopped();
  pid_t pid() const { return pid_; }
  const std::string& log_path() const { return log_; }
  std::string log() const;

 private:
  std::string topology_, node_, dsn_, log_;
  std::string binary_ = "postbox-node";
  std::vector<std::string> env_;
  pid_t pid_ = -1;
  int status_ = 0;
  bool exited_ = false;
};

class webhook_receiver {
 public:
  webhook_receiver();  // listens on 127.0.0.1, an ephemeral port
  ~webhook_receiver();
  std::string url() const;
  int posts(const std::string& idempotency_key) const;
  int total_posts() const;
  std::vector<std::string> bodies() const;

 private:
  mutable std::mutex mtx_;
  std::map<std::string, int> by_key_;
  std::vector<std::string> bodies_;
  std::unique_ptr<http_server> server_;
};

}  // namespace postbox::test

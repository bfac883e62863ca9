// One process of an external-program handler, kept by one worker: started when the
// worker starts and tended while idle (restarted after its backoff when lost), fed one
// request line at a time, restarted with backoff (200ms, 400ms, ... 10s)
// after it crashed, hung or wrote garbage. What it writes on stderr goes to the node's
// log, tagged with its name, pid and the message it was handling.
#pragma once

#include <caf/expected.hpp>
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>

#include "actors/runtime/child_process.hpp"
#include "config/topology.hpp"

namespace postbox {

class program_instance {
 public:
  /// `owner` tags the log lines ("node/queue/w0").
  program_instance(program_config cfg, std::string owner);
  /// Closes its stdin (a well-behaved program exits on EOF), waits a moment, kills it.
  ~program_instance();
  program_instance(const program_instance&) = delete;
  program_instance& operator=(const program_instance&) = delete;

  /// Sends `request` (one line) for message `message_id` and returns the answer line.
  /// Errors: errc::transient when the program cannot be started (not the message's
  /// fault); errc::logic_error when it exited, crashed, hung until `deadline` (it is
  /// killed) or answered more than the size limit — the text says which.
  caf::expected<std::string> exchange(const std::string& request, int64_t message_id,
                                      std::chrono::steady_clock::time_point deadline,
                                      const std::string& limit_text);

  /// Between messages (a worker calls it when it starts and every second while idle):
  /// starts the process if none runs and its restart backoff has passed, so a slow
  /// start (an interpreter, its imports) is not spent from a message's
  /// max_handler_time; logs what it wrote on stderr (a full pipe would block it); and
  /// notices that it exited or wrote on stdout, to start it again after the backoff.
  void tend();

  /// The last answer was garbage: the stream is out of step, start afresh.
  void restart(const std::string& why);
  /// The program answered in step: the backoff starts over.
  void answered();

  /// Longest answer line accepted.
  static constexpr std::size_t max_answer = 64u << 20;

 private:
  bool ensure_started(std::chrono::steady_clock::time_point deadline, std::string& error);
  void lost(const std::string& why);
  void drain_stderr(int64_t message_id, bool flush);
  std::string tag(int64_t message_id) const;

  program_config cfg_;
  std::string owner_;
  std::unique_ptr<child_process> proc_;
  std::string out_;  // stdout read so far
  std::string err_;  // stderr read so far, up to its next newline
  std::string last_err_line_;
  int failures_ = 0;  // since the last answer in step
  std::chrono::steady_clock::time_point not_before_{};
};

}  // namespace postbox

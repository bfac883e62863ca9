// A child process with pipes on its stdin, stdout and stderr, started without a shell
// in a process group of its own, so that killing it also kills what it started. A shim
// process leads that group and dies with the thread that started it, killing the
// group (and what left it) as it goes: a node that is killed -9 leaves no program and
// no program's child behind. The environment is only what the caller lists, plus
// PATH, HOME and LANG. No CAF, no database: the caller decides what a line means.
#pragma once

#include <sys/types.h>

#include <caf/expected.hpp>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace postbox {

/// `program` as execve needs it: as given when it contains a '/' (if executable), else
/// found on PATH. The error says why not.
caf::expected<std::string> find_executable(const std::string& program);

/// The variables a child gets from this process's environment (when set and not
/// given by the caller); nothing else of it is passed on.
inline constexpr const char* inherited_variables[] = {"PATH", "HOME", "LANG"};

class child_process {
 public:
  /// Starts argv[0] (looked up on PATH unless it contains a '/') with the environment
  /// `env` plus inherited_variables. pid() is the shim's (see above): killing its group
  /// kills the program, and it ends as the program ended. Its pipe ends on our side are
  /// non-blocking. The error says why it could not start ("cannot start 'x': No such
  /// file or directory").
  static caf::expected<std::unique_ptr<child_process>> start(
      const std::vector<std::string>& argv, const std::map<std::string, std::string>& env = {});

  /// Kills the group and reaps the child unless it was reaped already.
  ~child_process();
  child_process(const child_process&) = delete;
  child_process& operator=(const child_process&) = delete;

  pid_t pid() const { return pid_; }
  int stdin_fd() const { return in_; }
  int stdout_fd() const { return out_; }
  int stderr_fd() const { return err_; }
  /// Closes our end of its stdin: the child reads EOF.
  void close_stdin();

  /// SIGKILL to its process group (and to it, should it have left the group).
  void kill();
  /// True once it has exited; then kills what it left running in its group and reaps
  /// it (see exit_text).
  bool exited();
  /// Waits up to `ms` for it to exit by itself, then kills it; reaps it either way.
  void stop(int ms);
  /// How it ended: "exited with status 3", "was killed by signal 9 (Killed)"; empty
  /// while it runs.
  const std::string& exit_text() const { return exit_text_; }
  /// Its exit status once it exited by itself, else -1.
  int exit_code() const { return exit_code_; }
  /// The signal that ended it, else 0.
  int term_signal() const { return term_signal_; }

 private:
  child_process() = default;
  void reaped(int status);

  pid_t pid_ = -1;
  int in_ = -1;
  int out_ = -1;
  int err_ = -1;
  bool reaped_ = false;
  int exit_code_ = -1;
  int term_signal_ = 0;
  std::string exit_text_;
};

}  // namespace postbox

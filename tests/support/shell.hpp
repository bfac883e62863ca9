// Test support for shell commands: run one through /bin/sh and keep what it printed.
#pragma once

#include <string>

namespace postbox::test {

struct shell_result {
  int exit_code = -1;  // 128 + signal when a signal ended it; -1 when it could not run
  std::string output;  // stdout and stderr, interleaved
};

/// Runs `command` with /bin/sh (stderr joined to stdout) and waits for it.
shell_result run_shell(const std::string& command);

/// `s` as one single-quoted shell word.
std::string shell_quote(const std::string& s);

}  // namespace postbox::test

// What every postbox binary's command line shares (CLI11): --help on the program
// and on each command, the last of a repeated option wins, and one line on stderr
// with exit code 2 for a bad invocation.
#pragma once

#include <CLI/CLI.hpp>
#include <optional>
#include <string>

namespace postbox::command_line {

/// Exit code of a bad invocation (unknown command or option, missing or invalid value).
constexpr int exit_bad_invocation = 2;

/// Settings for `app` and the commands added to it afterwards: unknown arguments are
/// collected (and reported by parse()), global options may follow the command.
void configure(CLI::App& app);

/// Parses argv. nullopt: go on. Otherwise the exit code, after --help / --version
/// printed to stdout (0) or "PROGRAM: COMMAND: what is wrong" to stderr (2).
std::optional<int> parse(CLI::App& app, int argc, char** argv);

/// "invalid value" unless `text` is an integer in 1..1000000.
std::string check_positive(const std::string& text);

/// Validator for counts and ids: a positive integer.
CLI::Validator positive_integer();

/// The footer of a command's --help: its exit codes.
std::string exit_codes(const std::string& success, const std::string& failure,
                       const std::string& bad = "", const std::string& more = "");

}  // namespace postbox::command_line

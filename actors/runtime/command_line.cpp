// The command-line policy of the postbox binaries on top of CLI11.
#include "actors/runtime/command_line.hpp"

#include <cstdlib>
#include <iostream>
#include <regex>
#include <vector>

namespace postbox::command_line {

namespace {

/// "postbox dead-letters list": the program and the commands given so far.
std::string command_path(const CLI::App& app) {
  std::string path = app.get_name();
  for (auto subs = app.get_subcommands(); !subs.empty(); subs = subs.front()->get_subcommands())
    path += " " + subs.front()->get_name();
  return path;
}

std::vector<std::string> leftovers(const CLI::App& app) {
  return app.remaining(true);
}

/// What an argument nothing claimed means: a mistyped command, option or extra value.
std::string describe_leftover(const CLI::App& app, const std::string& arg) {
  const CLI::App* deepest = &app;
  while (!deepest->get_subcommands().empty()) deepest = deepest->get_subcommands().front();
  bool takes_commands = !deepest->get_subcommands([](const CLI::App*) { return true; }).empty();
  std::string help = " (see " + command_path(app) + " --help)";
  if (arg.size() > 1 && arg[0] == '-') return "unknown option " + arg + help;
  if (takes_commands) return "unknown command '" + arg + "'" + help;
  return "unexpected '" + arg + "'" + help;
}

/// CLI11's message, in the words the postbox binaries have always used.
std::string describe(const CLI::ParseError& e) {
  std::string what = e.what();
  static const std::regex missing_value(R"(^(\S+): \d+ required .* missing$)");
  std::smatch m;
  if (std::regex_match(what, m, missing_value)) return m[1].str() + " needs a value";
  return what;
}

std::string one_line(std::string text) {
  for (auto& c : text)
    if (c == '\n' || c == '\r') c = ' ';
  return text;
}

int bad_invocation(const CLI::App& app, const std::string& what) {
  auto path = command_path(app);
  auto space = path.find(' ');
  std::string program = path.substr(0, space);
  std::string commands = space == std::string::npos ? "" : path.substr(space + 1) + ": ";
  std::cerr << program << ": " << one_line(commands + what) << "\n";
  return exit_bad_invocation;
}

}  // namespace

void configure(CLI::App& app) {
  app.allow_extras();
  app.fallthrough();
  app.option_defaults()->multi_option_policy(CLI::MultiOptionPolicy::TakeLast);
  app.get_formatter()->column_width(34);
  app.get_formatter()->label("SUBCOMMAND", "COMMAND");
  app.get_formatter()->label("Subcommands", "Commands");
}

std::optional<int> parse(CLI::App& app, int argc, char** argv) {
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    if (e.get_exit_code() == 0) return app.exit(e);  // --help, --version
    // An argument nothing claimed explains the failure better than what follows
    // from it (`--bogus status`: the option, not the missing EXECUTION_ID).
    auto left = leftovers(app);
    return bad_invocation(app, left.empty() ? describe(e) : describe_leftover(app, left.front()));
  }
  if (auto left = leftovers(app); !left.empty())
    return bad_invocation(app, describe_leftover(app, left.front()));
  return std::nullopt;
}

std::string check_positive(const std::string& text) {
  char* end = nullptr;
  long n = std::strtol(text.c_str(), &end, 10);
  if (text.empty() || *end || n <= 0 || n > 1000000)
    return "must be a positive integer, got '" + text + "'";
  return "";
}

CLI::Validator positive_integer() {
  return CLI::Validator([](std::string& text) { return check_positive(text); }, "");
}

std::string exit_codes(const std::string& success, const std::string& failure,
                       const std::string& bad, const std::string& more) {
  std::string text =
      "Exit codes:\n  0  " + success + "\n  1  " + failure + "\n  2  " +
      (bad.empty() ? "bad invocation (unknown option, missing or invalid value)" : bad);
  if (!more.empty()) text += "\n  " + more;
  return text;
}

}  // namespace postbox::command_line

// Commands of the `postbox` client. Errors go to stderr as one line; the exit
// code is 0 on success, 1 when the command failed, 2 on a bad invocation.
#include "apps/cli.hpp"

#include <cstdlib>
#include <iostream>
#include <string>
#include <vector>

#include "persistence/migrator.hpp"
#include "persistence/pg_session.hpp"

namespace postbox::cli {

namespace {

struct invocation {
  std::string dsn;
  bool json = false;
  std::string command;
  std::vector<std::string> args;
};

const char* usage =
    "usage: postbox [--dsn DSN] [--topology FILE] [--json] COMMAND [ARGS]\n"
    "commands:\n"
    "  migrate    apply the schema migrations (idempotent)\n"
    "DSN defaults to $POSTBOX_DSN.\n";

int fail(const std::string& line, int code = 1) {
  std::cerr << "postbox: " << line << "\n";
  return code;
}

std::string json_escape(const std::string& s) {
  std::string out;
  for (char c : s) {
    if (c == '"' || c == '\\') out += '\\';
    if (static_cast<unsigned char>(c) < 0x20) {
      out += ' ';
      continue;
    }
    out += c;
  }
  return out;
}

int cmd_migrate(const invocation& inv) {
  pg_session session{{inv.dsn, "postbox-cli"}};
  auto report = migrate(session);
  if (!report) return fail("migrate failed: " + describe(report.error()));
  if (inv.json) {
    std::cout << "{\"version\":" << report->current_version << ",\"applied\":[";
    for (size_t i = 0; i < report->applied.size(); ++i)
      std::cout << (i ? "," : "") << '"' << json_escape(report->applied[i]) << '"';
    std::cout << "]}\n";
  } else if (report->applied.empty()) {
    std::cout << "schema is up to date (version " << report->current_version << ")\n";
  } else {
    for (const auto& name : report->applied) std::cout << "applied " << name << "\n";
    std::cout << "schema is at version " << report->current_version << "\n";
  }
  return 0;
}

}  // namespace

int run(int argc, char** argv) {
  invocation inv;
  if (const char* env = std::getenv("POSTBOX_DSN")) inv.dsn = env;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto value = [&](const char* name) -> const char* {
      if (i + 1 >= argc) return nullptr;
      (void)name;
      return argv[++i];
    };
    if (a == "--help" || a == "-h") {
      std::cout << usage;
      return 0;
    } else if (a == "--json") {
      inv.json = true;
    } else if (a == "--dsn" || a == "--topology") {
      const char* v = value(a.c_str());
      if (!v) return fail(a + " needs a value", 2);
      if (a == "--dsn") inv.dsn = v;
    } else if (!a.empty() && a[0] == '-' && inv.command.empty()) {
      return fail("unknown option " + a + " (see postbox --help)", 2);
    } else if (inv.command.empty()) {
      inv.command = a;
    } else {
      inv.args.push_back(a);
    }
  }
  if (inv.command.empty()) return fail("no command given (see postbox --help)", 2);
  if (inv.command == "migrate") {
    if (inv.dsn.empty()) return fail("no database: pass --dsn or set POSTBOX_DSN", 2);
    return cmd_migrate(inv);
  }
  return fail("unknown command '" + inv.command + "' (see postbox --help)", 2);
}

}  // namespace postbox::cli

// What the bodies of the `postbox` commands share.
#include "apps/cli/support.hpp"

#include <chrono>
#include <iostream>

#include "apps/table.hpp"
#include "persistence/execution_json.hpp"

namespace postbox::cli {

namespace json = boost::json;

int fail(const std::string& line, int code) {
  std::cerr << "postbox: " << line << "\n";
  return code;
}

int fail(const caf::error& err, const std::string& what) {
  return fail(what + ": " + describe(err),
              is(err, errc::invalid_argument) || is(err, errc::decode_failed) ? 2 : 1);
}

session_options session_for(const invocation& inv) {
  session_options o{inv.dsn, "postbox-cli"};
  if (inv.topo && inv.topo->database.pooler == "transaction") {
    o.prepared_statements = false;
    o.idle_in_transaction_timeout = std::chrono::milliseconds(0);
  }
  return o;
}

std::string ago(double seconds) {
  if (seconds < 1) return "now";
  if (seconds < 120) return std::to_string(static_cast<int>(seconds)) + "s ago";
  if (seconds < 7200) return std::to_string(static_cast<int>(seconds / 60)) + "m ago";
  return std::to_string(static_cast<int>(seconds / 3600)) + "h ago";
}

double now_epoch() {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

json::value execution_json(const execution_record& e) {
  return json::parse(execution_to_json(e));
}

void print_execution(const execution_record& e, bool as_json) {
  if (as_json) {
    std::cout << json::serialize(execution_json(e)) << "\n";
    return;
  }
  print_table(std::cout, {"field", "value"},
              {{"execution_id", e.id},
               {"workflow", e.workflow},
               {"status", to_string(e.status)},
               {"files_total", std::to_string(e.files_total)},
               {"files_done", std::to_string(e.files_done)},
               {"files_failed", std::to_string(e.files_failed)},
               {"files_not_run", std::to_string(e.files_not_run())},
               {"error", e.error.empty() ? "-" : e.error}});
}

}  // namespace postbox::cli

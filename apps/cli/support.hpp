// What the bodies of the `postbox` commands share: one-line failures, the
// database session, times as "3s ago", an execution printed as a table or JSON.
#pragma once

#include <boost/json.hpp>
#include <caf/error.hpp>
#include <string>

#include "apps/cli/commands.hpp"
#include "client/client.hpp"

namespace postbox::cli {

/// Nodes whose heartbeat is older than this are shown as stale.
constexpr double stale_after_s = 10.0;

/// Prints "postbox: LINE" on stderr; returns `code`.
int fail(const std::string& line, int code = 1);

/// "WHAT: the error"; exit code 2 for bad input (invalid argument, undecodable), else 1.
int fail(const caf::error& err, const std::string& what);

/// Connection options for the client: behind a transaction-mode pooler (per the
/// topology) no named prepared statements and no session settings.
session_options session_for(const invocation& inv);

std::string ago(double seconds);
double now_epoch();

boost::json::value execution_json(const execution_record& e);
void print_execution(const execution_record& e, bool as_json);

}  // namespace postbox::cli

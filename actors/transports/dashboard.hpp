// The node's dashboard: server-rendered pages (no script needed) over the cluster's
// database — executions (filtered, newest first, progress), one execution's batches
// and failed files, queues, dead letters with their reasons, nodes and the reaper
// leader — and its actions as form POSTs: cancel an execution, retry one dead letter
// or every dead letter of a queue. With a control token configured, an action needs
// it (a form field); reads do not.
#pragma once

#include <caf/expected.hpp>
#include <functional>
#include <map>
#include <optional>
#include <string>

#include "actors/transports/http_server.hpp"
#include "persistence/pg_session.hpp"

namespace postbox {

struct dashboard_env {
  std::string node_name;
  std::string cluster;
  /// "" or "UNHEALTHY: why", shown at the top.
  std::function<std::string()> health;
  /// Required by every action when not empty.
  std::string token;
  pg_session* session = nullptr;
  /// Cancels an execution; the text says what became of it.
  std::function<caf::expected<std::string>(const std::string&)> cancel;
};

/// The reply for a dashboard route (GET /, /executions/ID; POST /actions/...), or
/// nothing when `req` is not one.
std::optional<http_reply> dashboard_route(const http_request& req, dashboard_env& env);

/// Decodes application/x-www-form-urlencoded text (a query string or a form body).
std::map<std::string, std::string> decode_form(const std::string& text);

}  // namespace postbox

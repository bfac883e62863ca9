// The node's dashboard: server-rendered pages (no script needed) over the cluster's
// database — executions (filtered, newest first, progress), one execution's batches
// and failed files, queues, dead letters with their reasons, nodes and the reaper
// leader, keyed actors blocked by a poisoned head — and its actions as form POSTs:
// cancel an execution, retry one dead letter or every dead letter of a queue, retry or
// skip a blocked actor. Every route needs a Host this server is reachable
// as (DNS rebinding); an action also needs its Origin (or Referer) to be the dashboard,
// the per-start CSRF token in both its cookie and its form (double submit), and the
// control token when one is configured (a form field). Without a token, actions are
// off when the endpoint listens beyond loopback.
#pragma once

#include <caf/expected.hpp>
#include <functional>
#include <map>
#include <optional>
#include <string>

#include "actors/transports/http_server.hpp"
#include "actors/transports/same_origin.hpp"
#include "persistence/pg_session.hpp"

namespace postbox {

struct dashboard_env {
  std::string node_name;
  std::string cluster;
  /// "" or "UNHEALTHY: why", shown at the top.
  std::function<std::string()> health;
  /// Required by every action when not empty.
  std::string token;
  /// The names and port a request's Host must name.
  served_names names;
  /// Random per node start; set as cookie `csrf_cookie` (SameSite=Strict) by every
  /// page and echoed by every form: an action must carry it in both.
  std::string csrf;
  std::string csrf_cookie = "postbox_csrf";
  /// Not empty: why actions are off (shown on the page; every action is a 403).
  std::string actions_off;
  pg_session* session = nullptr;
  /// Cancels an execution; the text says what became of it.
  std::function<caf::expected<std::string>(const std::string&)> cancel;
  /// retry or skip (the verb) of the blocked actor (type, key); the text says what
  /// became of it.
  std::function<caf::expected<std::string>(const std::string&, const std::string&,
                                           const std::string&)>
      actor_action;
};

/// The reply for a dashboard route (GET /, /executions/ID; POST /actions/...), or
/// nothing when `req` is not one.
std::optional<http_reply> dashboard_route(const http_request& req, dashboard_env& env);

/// Decodes application/x-www-form-urlencoded text (a query string or a form body).
std::map<std::string, std::string> decode_form(const std::string& text);

}  // namespace postbox

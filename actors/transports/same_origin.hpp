// Where a dashboard request comes from: its Host must be a name this server is
// reachable as (no DNS rebinding), and an action's Origin (or Referer) must be the
// dashboard itself (no cross-site form posts). Plus the cookie reader they need.
#pragma once

#include <cstdint>
#include <set>
#include <string>

#include "actors/transports/http_server.hpp"

namespace postbox {

struct served_names {
  /// Lower-case host names and addresses, IPv6 without brackets.
  std::set<std::string> hosts;
  /// The port a Host header must name (80 when it names none).
  uint16_t port = 0;
};

/// "" when the request's Host header names one of `names` on its port, else why not.
std::string foreign_host(const http_request& req, const served_names& names);

/// "" when the request's Origin (or, without one, its Referer) is http(s)://HOST of
/// the request's own Host header, else why not. Neither header, or "Origin: null"
/// (a sandboxed frame, a file:// page), is refused: browsers send one on every POST.
std::string cross_origin(const http_request& req);

/// The value of cookie `name` in the request's Cookie header, "" when absent.
std::string cookie_value(const http_request& req, const std::string& name);

/// True for the names that stay on this machine: localhost, 127.0.0.0/8, ::1.
bool is_loopback(const std::string& host);

}  // namespace postbox

// Host, Origin and Referer checks of the dashboard (see same_origin.hpp).
#include "actors/transports/same_origin.hpp"

#include <algorithm>
#include <cctype>

namespace postbox {

namespace {

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return s;
}

std::string header(const http_request& req, const std::string& name) {
  auto it = req.headers.find(name);
  return it == req.headers.end() ? std::string() : it->second;
}

/// "host[:port]" or "[v6][:port]" split; false when malformed.
bool split_authority(const std::string& authority, std::string& host, std::string& port) {
  if (authority.empty()) return false;
  if (authority.front() == '[') {
    auto close = authority.find(']');
    if (close == std::string::npos) return false;
    host = authority.substr(1, close - 1);
    const std::string rest = authority.substr(close + 1);
    if (!rest.empty() && rest.front() != ':') return false;
    port = rest.empty() ? "" : rest.substr(1);
  } else {
    auto colon = authority.find(':');
    if (authority.find(':', colon == std::string::npos ? colon : colon + 1) != std::string::npos)
      return false;  // an unbracketed IPv6 literal is not a Host
    host = authority.substr(0, colon);
    port = colon == std::string::npos ? "" : authority.substr(colon + 1);
  }
  if (host.empty()) return false;
  return std::all_of(port.begin(), port.end(), [](unsigned char c) { return std::isdigit(c); });
}

/// The "scheme://authority" prefix of an absolute http(s) URL, lower-cased; "" if none.
std::string origin_of(const std::string& url) {
  const std::string u = lower(url);
  for (const char* scheme : {"http://", "https://"}) {
    const std::string s = scheme;
    if (u.rfind(s, 0) != 0) continue;
    auto end = u.find_first_of("/?#", s.size());
    return u.substr(0, end);
  }
  return "";
}

}  // namespace

std::string foreign_host(const http_request& req, const served_names& names) {
  const std::string value = header(req, "host");
  if (value.empty()) return "the request has no Host header";
  std::string host, port;
  if (!split_authority(lower(value), host, port)) return "malformed Host header: " + value;
  const std::string want_port = std::to_string(names.port == 0 ? 80 : names.port);
  if (names.hosts.count(host) == 0 || (port.empty() ? "80" : port) != want_port)
    return "Host " + value + " is not a name this dashboard is served as";
  return "";
}

std::string cross_origin(const http_request& req) {
  const std::string host = lower(header(req, "host"));
  std::string from = header(req, "origin");
  const char* which = "Origin";
  if (from.empty()) {
    from = header(req, "referer");
    which = "Referer";
  }
  if (from.empty()) return "an action needs an Origin or Referer header (a browser sends one)";
  const std::string origin = origin_of(from);
  if (!host.empty() && (origin == "http://" + host || origin == "https://" + host)) return "";
  return std::string(which) + " " + from + " is not this dashboard (Host " + host + ")";
}

std::string cookie_value(const http_request& req, const std::string& name) {
  const std::string all = header(req, "cookie");
  std::size_t at = 0;
  while (at < all.size()) {
    auto end = all.find_first_of(";,", at);
    std::string pair = all.substr(at, end == std::string::npos ? std::string::npos : end - at);
    auto first = pair.find_first_not_of(' ');
    pair = first == std::string::npos ? "" : pair.substr(first);
    auto eq = pair.find('=');
    if (eq != std::string::npos && pair.substr(0, eq) == name) {
      std::string v = pair.substr(eq + 1);
      while (!v.empty() && v.back() == ' ') v.pop_back();
      return v;
    }
    if (end == std::string::npos) break;
    at = end + 1;
  }
  return "";
}

bool is_loopback(const std::string& host) {
  const std::string h = lower(host);
  return h == "localhost" || h == "::1" || h == "[::1]" || h.rfind("127.", 0) == 0;
}

}  // namespace postbox

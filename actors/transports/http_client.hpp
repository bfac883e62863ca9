// A one-shot HTTP/1.1 JSON POST with one hard deadline, for webhook delivery.
// Boost stays in the .cpp: Beast headers cost seconds per translation unit.
#pragma once

#include <chrono>
#include <string>
#include <utility>
#include <vector>

namespace postbox {

struct http_result {
  int status = 0;     // the HTTP status when a response arrived, else 0
  std::string body;   // the response body
  std::string error;  // non-empty when no HTTP response arrived: refused, timeout, bad url
  bool ok() const { return error.empty() && status >= 200 && status < 300; }
};

/// POSTs JSON to an http:// URL (no TLS); one deadline covers resolve+connect+write+read.
/// `headers` are set after the defaults (Host, Content-Type: application/json), so they
/// may override them. Never throws; a 4xx/5xx is a result with an empty `error`.
http_result post_json(const std::string& url, const std::string& body,
                      const std::vector<std::pair<std::string, std::string>>& headers,
                      std::chrono::milliseconds timeout);

/// Parses "http://host[:port][/target]" (host may be a bracketed IPv6 literal); port
/// defaults to "80", target to "/". False on anything else, including https://.
/// GETs an http:// URL under one deadline (health checks, tests). Never throws.
http_result http_get(const std::string& url, std::chrono::milliseconds timeout);

bool parse_http_url(const std::string& url, std::string& host, std::string& port,
                    std::string& target);

}  // namespace postbox

// A small HTTP/1.1 server on its own thread (metrics, health, webhook sinks).
// Boost stays in the .cpp: Beast headers cost seconds per translation unit.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "messages/error.hpp"

namespace postbox {

struct http_request {
  std::string method;
  std::string target;
  std::string body;
  std::map<std::string, std::string> headers;  // lower-case names; repeated headers joined by ", "
};

struct http_reply {
  http_reply() = default;
  http_reply(int status_code, std::string type, std::string text, std::string where = {})
      : status(status_code),
        content_type(std::move(type)),
        body(std::move(text)),
        location(std::move(where)) {}

  int status = 200;
  std::string content_type = "text/plain";
  std::string body;
  /// Sent as Location when not empty (a 303 after a form POST).
  std::string location;
  /// More response headers (Set-Cookie, Retry-After); no line breaks allowed.
  std::vector<std::pair<std::string, std::string>> headers;
};

/// Serves requests on one I/O thread that never waits: the handler runs on a small
/// pool of worker threads (a slow handler holds a worker, never the I/O thread), and
/// an optional `immediate` handler answers what it can on the I/O thread itself (a
/// health probe answered from memory). Keep-alive, 30 s idle timeout, 8 MiB request
/// bodies (413 beyond), at most `max_connections` open connections (beyond: 503 and
/// close); a throwing handler yields a 500.
class http_server {
 public:
  using handler = std::function<http_reply(const http_request&)>;
  /// Must not block: it runs on the I/O thread. Nothing: the request goes to `handler`.
  using immediate_handler = std::function<std::optional<http_reply>(const http_request&)>;

  struct options {
    /// Threads that run `handler`; requests beyond them queue (one per connection).
    std::size_t workers = 4;
    std::size_t max_connections = 64;
    immediate_handler immediate;
  };

  /// `port` 0 picks an ephemeral port; see port() after start().
  http_server(std::string host, uint16_t port, handler h);
  http_server(std::string host, uint16_t port, handler h, options opts);
  ~http_server();  // stops

  http_server(const http_server&) = delete;
  http_server& operator=(const http_server&) = delete;

  /// Binds, listens and starts the I/O thread. errc::io_error naming host:port
  /// when the address is unusable or taken; errc::logic_error when called twice.
  caf::error start();

  /// The bound port after start() (still readable after stop()); 0 before.
  uint16_t port() const;

  /// Idempotent: closes the listener and all connections, joins the I/O thread and
  /// the workers (waiting for handlers still running).
  void stop();

 private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

}  // namespace postbox

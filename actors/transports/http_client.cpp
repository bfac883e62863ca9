// post_json: Beast async ops driven by a private io_context, so the stream's
// deadline really fires (Beast ignores expires_after on blocking calls).
#include "actors/transports/http_client.hpp"

#include <algorithm>
#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/address.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core/error.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http.hpp>
#include <cctype>
#include <condition_variable>
#include <exception>
#include <memory>
#include <mutex>
#include <thread>

namespace postbox {

namespace {

namespace beast = boost::beast;
namespace http = beast::http;
namespace net = boost::asio;
using tcp = net::ip::tcp;
using clock_type = std::chrono::steady_clock;

constexpr std::size_t response_body_limit = 8u << 20;

bool host_char(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '.' || c == '_';
}

bool ipv6_char(char c) {
  return std::isxdigit(static_cast<unsigned char>(c)) || c == ':' || c == '.';
}

// Request smuggling guard: a CR or LF in a header would let a caller-supplied
// value start a new header or request.
bool safe_header_value(const std::string& s) {
  return std::none_of(s.begin(), s.end(), [](char c) { return c == '\r' || c == '\n' || c == 0; });
}

bool token_char(char c) {
  static const std::string extra = "!#$%&'*+-.^_`|~";
  return std::isalnum(static_cast<unsigned char>(c)) || extra.find(c) != std::string::npos;
}

bool safe_header_name(const std::string& s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), token_char);
}

std::string bracketed(const std::string& host) {
  return host.find(':') != std::string::npos ? "[" + host + "]" : host;
}

std::string authority(const std::string& host, const std::string& port) {
  return bracketed(host) + ":" + port;
}

long long millis(std::chrono::milliseconds d) {
  return static_cast<long long>(d.count());
}

// getaddrinfo cannot be cancelled, and asio's async_resolve joins its worker
// thread on shutdown, so neither bounds a stuck DNS lookup. A detached thread
// that we simply stop waiting for does.
struct resolve_state {
  std::mutex mtx;
  std::condition_variable cv;
  bool done = false;
  std::vector<tcp::endpoint> endpoints;
  std::string error;
};

std::string resolve(const std::string& host, const std::string& port,
                    clock_type::time_point deadline, std::chrono::milliseconds timeout,
                    std::vector<tcp::endpoint>& out) {
  boost::system::error_code ec;
  auto addr = net::ip::make_address(host, ec);
  if (!ec) {
    out.emplace_back(addr, static_cast<unsigned short>(std::stoi(port)));
    return {};
  }
  auto st = std::make_shared<resolve_state>();
  std::thread([st, host, port] {
    std::vector<tcp::endpoint> eps;
    std::string err;
    try {
      net::io_context io;
      tcp::resolver resolver(io);
      boost::system::error_code rec;
      auto results = resolver.resolve(host, port, rec);
      if (rec)
        err = rec.message();
      else
        for (const auto& r : results) eps.push_back(r.endpoint());
    } catch (const std::exception& e) {
      err = e.what();
    }
    std::lock_guard<std::mutex> guard(st->mtx);
    st->endpoints = std::move(eps);
    st->error = std::move(err);
    st->done = true;
    st->cv.notify_all();
  }).detach();
  std::unique_lock<std::mutex> lock(st->mtx);
  if (!st->cv.wait_until(lock, deadline, [&] { return st->done; }))
    return "timeout after " + std::to_string(millis(timeout)) + " ms (resolving " + host + ")";
  if (!st->error.empty()) return "resolving " + host + ": " + st->error;
  if (st->endpoints.empty()) return "resolving " + host + ": no addresses";
  out = std::move(st->endpoints);
  return {};
}

http_result do_request(http::verb verb, const std::string& url, const std::string& body,
                       const std::vector<std::pair<std::string, std::string>>& headers,
                       std::chrono::milliseconds timeout) {
  http_result out;
  // Clamped so that now() + timeout cannot overflow (e.g. milliseconds::max()).
  timeout = std::clamp(timeout, std::chrono::milliseconds{0},
                       std::chrono::milliseconds{std::chrono::hours{24}});
  const auto deadline = clock_type::now() + timeout;
  std::string host, port, target;
  if (!parse_http_url(url, host, port, target)) {
    std::string scheme = url.substr(0, 8);
    std::transform(scheme.begin(), scheme.end(), scheme.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    out.error = scheme == "https://" ? "https is not supported (no TLS): " + url
                                     : "bad url (want http://host[:port][/path]): " + url;
    return out;
  }
  for (const auto& [name, value] : headers)
    if (!safe_header_name(name) || !safe_header_value(value)) {
      out.error = "invalid header '" + name + "'";
      return out;
    }

  http::request<http::string_body> req{verb, target, 11};
  req.set(http::field::host, port == "80" ? bracketed(host) : authority(host, port));
  if (verb == http::verb::post) req.set(http::field::content_type, "application/json");
  req.set(http::field::user_agent, "postbox");
  for (const auto& [name, value] : headers) req.set(name, value);
  req.body() = body;
  req.keep_alive(false);
  req.prepare_payload();

  std::vector<tcp::endpoint> endpoints;
  if (auto err = resolve(host, port, deadline, timeout, endpoints); !err.empty()) {
    out.error = std::move(err);
    return out;
  }

  net::io_context ioc{1};
  beast::tcp_stream stream(ioc);
  beast::flat_buffer buffer;
  http::response_parser<http::string_body> parser;
  parser.body_limit(response_body_limit);
  beast::error_code failure;
  const char* step = "connecting to";
  stream.expires_at(deadline);
  stream.async_connect(endpoints, [&](beast::error_code ec, const tcp::endpoint&) {
    if (ec) {
      failure = ec;
      return;
    }
    step = "sending to";
    http::async_write(stream, req, [&](beast::error_code ec2, std::size_t) {
      if (ec2) {
        failure = ec2;
        return;
      }
      step = "waiting for the response of";
      http::async_read(stream, buffer, parser, [&](beast::error_code ec3, std::size_t) {
        if (ec3) {
          failure = ec3;
          return;
        }
        out.status = static_cast<int>(parser.get().result_int());
        out.body = std::move(parser.get().body());
      });
    });
  });
  ioc.run();
  beast::error_code ignored;
  stream.socket().shutdown(tcp::socket::shutdown_both, ignored);
  stream.socket().close(ignored);

  if (failure) {
    out.status = 0;
    out.body.clear();
    if (failure == beast::error::timeout)
      out.error = "timeout after " + std::to_string(millis(timeout)) + " ms (" + step + " " +
                  authority(host, port) + ")";
    else if (failure == http::error::end_of_stream)
      out.error =
          std::string(step) + " " + authority(host, port) + ": connection closed before a response";
    else
      out.error = std::string(step) + " " + authority(host, port) + ": " + failure.message();
  }
  return out;
}

}  // namespace

bool parse_http_url(const std::string& url, std::string& host, std::string& port,
                    std::string& target) {
  static const std::string scheme = "http://";
  if (url.size() < scheme.size()) return false;
  for (std::size_t i = 0; i < scheme.size(); ++i)
    if (std::tolower(static_cast<unsigned char>(url[i])) != scheme[i]) return false;
  std::string rest = url.substr(scheme.size());
  // The fragment is client-side only; it is never sent.
  if (auto hash = rest.find('#'); hash != std::string::npos) rest.erase(hash);
  auto path_at = rest.find_first_of("/?");
  std::string auth = rest.substr(0, path_at);
  std::string path = path_at == std::string::npos ? std::string{} : rest.substr(path_at);
  std::string h, p;
  if (!auth.empty() && auth[0] == '[') {
    auto close = auth.find(']');
    if (close == std::string::npos) return false;
    h = auth.substr(1, close - 1);
    if (h.empty() || !std::all_of(h.begin(), h.end(), ipv6_char)) return false;
    std::string after = auth.substr(close + 1);
    if (!after.empty()) {
      if (after[0] != ':') return false;
      p = after.substr(1);
      if (p.empty()) return false;
    }
  } else {
    auto colon = auth.find(':');
    h = auth.substr(0, colon);
    if (colon != std::string::npos) {
      p = auth.substr(colon + 1);
      if (p.empty()) return false;
    }
    if (h.empty() || !std::all_of(h.begin(), h.end(), host_char)) return false;
  }
  if (!p.empty()) {
    if (p.size() > 5 ||
        !std::all_of(p.begin(), p.end(), [](char c) { return c >= '0' && c <= '9'; }))
      return false;
    int n = std::stoi(p);
    if (n < 1 || n > 65535) return false;
    p = std::to_string(n);
  } else {
    p = "80";
  }
  if (path.empty()) path = "/";
  if (path[0] == '?') path.insert(0, "/");
  if (std::any_of(path.begin(), path.end(),
                  [](char c) { return static_cast<unsigned char>(c) <= 0x20 || c == 0x7f; }))
    return false;
  host = std::move(h);
  port = std::move(p);
  target = std::move(path);
  return true;
}

namespace {

http_result guarded(http::verb verb, const std::string& url, const std::string& body,
                    const std::vector<std::pair<std::string, std::string>>& headers,
                    std::chrono::milliseconds timeout) {
  try {
    return do_request(verb, url, body, headers, timeout);
  } catch (const std::exception& e) {
    http_result out;
    out.error = std::string("http client failure: ") + e.what();
    return out;
  } catch (...) {
    http_result out;
    out.error = "http client failure";
    return out;
  }
}

}  // namespace

http_result post_json(const std::string& url, const std::string& body,
                      const std::vector<std::pair<std::string, std::string>>& headers,
                      std::chrono::milliseconds timeout) {
  return guarded(http::verb::post, url, body, headers, timeout);
}

http_result http_get(const std::string& url, std::chrono::milliseconds timeout) {
  return guarded(http::verb::get, url, "", {}, timeout);
}

}  // namespace postbox

// postbox-webhook-sink: a webhook receiver for tests and demos. It fails the
// first N POSTs with 503 (to exercise retries) and logs each accepted one as a JSON line.
#include <pthread.h>
#include <signal.h>

#include <boost/json.hpp>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <mutex>
#include <string>

#include "actors/transports/http_server.hpp"
#include "messages/error.hpp"
#include "postbox/version.hpp"

namespace json = boost::json;

namespace {

constexpr const char* usage =
    "usage: postbox-webhook-sink --port P [--host H] [--fail-first N] [--out FILE] | --version";

struct options {
  std::string host = "127.0.0.1";
  long port = -1;
  long fail_first = 0;
  std::string out;
};

bool parse_number(const std::string& s, long max, long& out) {
  if (s.empty() || s.size() > 10 || s.find_first_not_of("0123456789") != std::string::npos)
    return false;
  long long n = std::stoll(s);
  if (n > max) return false;
  out = static_cast<long>(n);
  return true;
}

// One stderr line and exit code 2 on any misuse.
bool parse_args(int argc, char** argv, options& opts, std::string& error) {
  auto fail = [&error](std::string why) {
    error = std::move(why);
    return false;
  };
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg != "--port" && arg != "--host" && arg != "--fail-first" && arg != "--out")
      return fail("unknown argument '" + arg + "'");
    if (i + 1 >= argc) return fail("missing value for " + arg);
    const std::string value = argv[++i];
    if (arg == "--port" && !parse_number(value, 65535, opts.port))
      return fail("bad --port '" + value + "'");
    if (arg == "--fail-first" && !parse_number(value, 1000000000, opts.fail_first))
      return fail("bad --fail-first '" + value + "'");
    if ((arg == "--host" || arg == "--out") && value.empty()) return fail("empty " + arg);
    if (arg == "--host") opts.host = value;
    if (arg == "--out") opts.out = value;
  }
  if (opts.port < 0) return fail("--port is required");
  return true;
}

// Boost.JSON serializes invalid UTF-8 verbatim (producing invalid JSON), so
// bytes that are not well-formed UTF-8 become U+FFFD.
std::string sanitize_utf8(const std::string& s) {
  std::string out;
  out.reserve(s.size());
  const auto* p = reinterpret_cast<const unsigned char*>(s.data());
  const std::size_t n = s.size();
  for (std::size_t i = 0; i < n;) {
    unsigned char c = p[i];
    std::size_t len = c < 0x80           ? 1
                      : (c >> 5) == 0x6  ? 2
                      : (c >> 4) == 0xE  ? 3
                      : (c >> 3) == 0x1E ? 4
                                         : 0;
    bool ok = len > 0 && i + len <= n;
    for (std::size_t k = 1; ok && k < len; ++k) ok = (p[i + k] & 0xC0) == 0x80;
    if (ok && len > 1) {
      uint32_t cp = c & (0xFF >> (len + 1));
      for (std::size_t k = 1; k < len; ++k) cp = (cp << 6) | (p[i + k] & 0x3F);
      const uint32_t min[] = {0, 0, 0x80, 0x800, 0x10000};
      ok = cp >= min[len] && cp <= 0x10FFFF && !(cp >= 0xD800 && cp <= 0xDFFF);
    }
    if (ok) {
      out.append(s, i, len);
      i += len;
    } else {
      out += "\xEF\xBF\xBD";
      ++i;
    }
  }
  return out;
}

// 1e400 parses to infinity, which serialize() writes as invalid JSON.
bool all_finite(const json::value& v) {
  switch (v.kind()) {
    case json::kind::double_:
      return std::isfinite(v.get_double());
    case json::kind::array:
      for (const auto& x : v.get_array())
        if (!all_finite(x)) return false;
      return true;
    case json::kind::object:
      for (const auto& kv : v.get_object())
        if (!all_finite(kv.value())) return false;
      return true;
    default:
      return true;
  }
}

json::value embed(const std::string& body) {
  json::error_code ec;
  json::value parsed = json::parse(body, ec);
  if (!ec && all_finite(parsed)) return parsed;
  return json::value(sanitize_utf8(body));
}

class sink {
 public:
  sink(long fail_first, std::ostream& out) : fail_first_(fail_first), out_(out) {}

  postbox::http_reply operator()(const postbox::http_request& req) {
    std::lock_guard<std::mutex> guard(mtx_);
    if (req.method == "GET" && (req.target == "/count" || req.target.rfind("/count?", 0) == 0))
      return {200, "text/plain", std::to_string(accepted_)};
    if (req.method != "POST") return {404, "text/plain", "POST any path, or GET /count\n"};
    ++posts_;
    if (posts_ <= fail_first_)
      return {503, "text/plain",
              "failing on purpose (" + std::to_string(posts_) + "/" + std::to_string(fail_first_) +
                  ")\n"};
    json::object line;
    auto key = req.headers.find("idempotency-key");
    if (key != req.headers.end())
      line["idempotency_key"] = sanitize_utf8(key->second);
    else
      line["idempotency_key"] = nullptr;
    line["body"] = embed(req.body);
    out_ << json::serialize(line) << '\n' << std::flush;
    if (!out_) {
      out_.clear();
      return {500, "text/plain", "cannot write the output file\n"};
    }
    ++accepted_;
    return {200, "text/plain", "ok\n"};
  }

 private:
  std::mutex mtx_;
  long fail_first_;
  long posts_ = 0;
  long accepted_ = 0;
  std::ostream& out_;
};

}  // namespace

int main(int argc, char** argv) {
  if (argc == 2 && std::string(argv[1]) == "--version") {
    std::cout << postbox::version_line("postbox-webhook-sink") << std::endl;
    return 0;
  }
  options opts;
  std::string error;
  if (!parse_args(argc, argv, opts, error)) {
    std::cerr << "postbox-webhook-sink: " << error << " (" << usage << ")" << std::endl;
    return 2;
  }
  std::ofstream file;
  if (!opts.out.empty()) {
    file.open(opts.out, std::ios::out | std::ios::app);
    if (!file) {
      std::cerr << "postbox-webhook-sink: cannot open " << opts.out << " for appending"
                << std::endl;
      return 1;
    }
  }
  // Block the stop signals before the server thread exists so it inherits the
  // mask and only sigwait() below sees them.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGTERM);
  sigaddset(&stop_signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);
  signal(SIGPIPE, SIG_IGN);  // a closed stdout must fail a write, not kill us

  sink s(opts.fail_first, opts.out.empty() ? std::cout : static_cast<std::ostream&>(file));
  postbox::http_server server(opts.host, static_cast<uint16_t>(opts.port),
                              [&s](const postbox::http_request& req) { return s(req); });
  if (auto err = server.start()) {
    std::cerr << "postbox-webhook-sink: " << postbox::describe(err) << std::endl;
    return 1;
  }
  std::cerr << "listening on " << opts.host << ":" << server.port() << std::endl;
  int sig = 0;
  sigwait(&stop_signals, &sig);
  server.stop();
  return 0;
}

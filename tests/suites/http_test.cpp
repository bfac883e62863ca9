// The webhook HTTP client (deadlines, errors as values), the small HTTP server
// (keep-alive, limits, handler failures) and the postbox-webhook-sink binary.
#define CAF_SUITE http
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <caf/test/unit_test.hpp>
#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "actors/transports/http_client.hpp"
#include "actors/transports/http_server.hpp"

extern char** environ;

using namespace postbox;
using namespace std::chrono_literals;

namespace {

using steady = std::chrono::steady_clock;

long long ms_since(steady::time_point t0) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(steady::now() - t0).count();
}

std::string url(uint16_t port, const std::string& path = "/") {
  return "http://127.0.0.1:" + std::to_string(port) + path;
}

bool contains(const std::string& haystack, const std::string& needle) {
  return haystack.find(needle) != std::string::npos;
}

// A hand-written client on one socket: post_json always opens a fresh
// connection, so keep-alive is only observable this way.
class raw_client {
 public:
  explicit raw_client(uint16_t port) {
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    timeval tv{5, 0};
    ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(port);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
      ::close(fd_);
      fd_ = -1;
    }
  }
  ~raw_client() {
    if (fd_ >= 0) ::close(fd_);
  }
  bool connected() const { return fd_ >= 0; }

  bool send(const std::string& data) {
    std::size_t done = 0;
    while (done < data.size()) {
      auto n = ::send(fd_, data.data() + done, data.size() - done, MSG_NOSIGNAL);
      if (n <= 0) return false;
      done += static_cast<std::size_t>(n);
    }
    return true;
  }

  /// One Content-Length framed response: {status, body}; status 0 on EOF or timeout.
  std::pair<int, std::string> receive() {
    std::size_t end;
    while ((end = pending_.find("\r\n\r\n")) == std::string::npos)
      if (!fill()) return {0, {}};
    std::string head = pending_.substr(0, end);
    for (auto& c : head) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    int status = std::stoi(head.substr(9, 3));
    std::size_t length = 0;
    if (auto at = head.find("\r\ncontent-length:"); at != std::string::npos)
      length = std::stoul(head.substr(at + 17));
    while (pending_.size() < end + 4 + length)
      if (!fill()) return {0, {}};
    std::string body = pending_.substr(end + 4, length);
    pending_.erase(0, end + 4 + length);
    last_head_ = head;
    return {status, body};
  }

  /// The lower-cased head (status line and headers) of the last response.
  const std::string& last_head() const { return last_head_; }

  /// True when the peer closed the connection (and sent nothing more).
  bool closed_by_peer() { return !fill() && pending_.empty(); }

 private:
  bool fill() {
    char buf[4096];
    auto n = ::recv(fd_, buf, sizeof buf, 0);
    if (n <= 0) return false;
    pending_.append(buf, static_cast<std::size_t>(n));
    return true;
  }

  int fd_ = -1;
  std::string pending_;
  std::string last_head_;
};

bool test_wait(const std::function<bool()>& condition, std::chrono::milliseconds limit) {
  const auto until = steady::now() + limit;
  for (;;) {
    if (condition()) return true;
    if (steady::now() >= until) return false;
    std::this_thread::sleep_for(20ms);
  }
}

// Records what the server saw and answers with a fixed reply.
struct recording_handler {
  std::mutex mtx;
  std::vector<http_request> seen;
  http_reply reply{200, "text/plain", "ok"};

  http_server::handler fn() {
    return [this](const http_request& req) {
      std::lock_guard<std::mutex> guard(mtx);
      seen.push_back(req);
      return reply;
    };
  }
  std::size_t count() {
    std::lock_guard<std::mutex> guard(mtx);
    return seen.size();
  }
};

struct spawned {
  pid_t pid = -1;
  int stderr_fd = -1;
};

// Runs `args` with stderr on a pipe, default signal dispositions and an empty
// mask (the test runner's mask must not leak into the child).
spawned spawn(const std::vector<std::string>& args) {
  spawned out;
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) return out;
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, fds[1], 2);
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  sigset_t none, defaults;
  sigemptyset(&none);
  sigemptyset(&defaults);
  sigaddset(&defaults, SIGTERM);
  sigaddset(&defaults, SIGINT);
  sigaddset(&defaults, SIGPIPE);
  posix_spawnattr_setsigmask(&attr, &none);
  posix_spawnattr_setsigdefault(&attr, &defaults);
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
  std::vector<std::string> copy = args;
  std::vector<char*> argv;
  for (auto& a : copy) argv.push_back(a.data());
  argv.push_back(nullptr);
  pid_t pid;
  int rc = posix_spawn(&pid, copy[0].c_str(), &actions, &attr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  posix_spawnattr_destroy(&attr);
  ::close(fds[1]);
  if (rc != 0) {
    ::close(fds[0]);
    return out;
  }
  out.pid = pid;
  out.stderr_fd = fds[0];
  return out;
}

// Reads the child's stderr until it contains a full line with `marker` (or
// EOF / the deadline); returns everything read.
std::string read_stderr_until(int fd, const std::string& marker, std::chrono::milliseconds limit) {
  std::string text;
  const auto until = steady::now() + limit;
  while (steady::now() < until) {
    auto at = text.find(marker);
    if (at != std::string::npos && text.find('\n', at) != std::string::npos) break;
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, 50) <= 0) continue;
    char buf[512];
    auto n = ::read(fd, buf, sizeof buf);
    if (n <= 0) break;
    text.append(buf, static_cast<std::size_t>(n));
  }
  return text;
}

// The exit status, or -1 (after SIGKILL) when the child outlives `limit`.
int wait_exit(pid_t pid, std::chrono::milliseconds limit) {
  const auto until = steady::now() + limit;
  int status = 0;
  while (steady::now() < until) {
    if (::waitpid(pid, &status, WNOHANG) == pid)
      return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    std::this_thread::sleep_for(10ms);
  }
  ::kill(pid, SIGKILL);
  ::waitpid(pid, &status, 0);
  return -1;
}

std::string sink_binary() {
  const char* dir = std::getenv("POSTBOX_BIN_DIR");
  return dir ? std::string(dir) + "/postbox-webhook-sink" : std::string{};
}

}  // namespace

CAF_TEST(urls parse into host port and target) {
  std::string host, port, target;
  CAF_REQUIRE(parse_http_url("http://127.0.0.1:8080/hooks/a?x=1", host, port, target));
  CAF_CHECK_EQUAL(host, "127.0.0.1");
  CAF_CHECK_EQUAL(port, "8080");
  CAF_CHECK_EQUAL(target, "/hooks/a?x=1");
  CAF_REQUIRE(parse_http_url("HTTP://Example.com", host, port, target));
  CAF_CHECK_EQUAL(host, "Example.com");
  CAF_CHECK_EQUAL(port, "80");
  CAF_CHECK_EQUAL(target, "/");
  CAF_REQUIRE(parse_http_url("http://[::1]:9/x#frag", host, port, target));
  CAF_CHECK_EQUAL(host, "::1");
  CAF_CHECK_EQUAL(port, "9");
  CAF_CHECK_EQUAL(target, "/x");
  for (auto bad : {"ftp://x", "https://x", "http://", "http://h:0/", "http://h:99999", "http://h:/",
                   "http://a b/", "http://u@h/", "http://h/a b", "x", ""})
    CAF_CHECK(!parse_http_url(bad, host, port, target));
}

CAF_TEST(a post round trip carries the idempotency key) {
  recording_handler rec;
  rec.reply = {201, "application/json", R"({"ok":true})"};
  http_server server("127.0.0.1", 0, rec.fn());
  CAF_REQUIRE(!server.start());
  CAF_REQUIRE_NOT_EQUAL(server.port(), 0);
  auto res = post_json(url(server.port(), "/hooks/a"), R"({"execution_id":"e-1"})",
                       {{"Idempotency-Key", "e-1:COMPLETED"}}, 2000ms);
  CAF_CHECK_EQUAL(res.error, "");
  CAF_CHECK_EQUAL(res.status, 201);
  CAF_CHECK_EQUAL(res.body, R"({"ok":true})");
  CAF_CHECK(res.ok());
  CAF_REQUIRE_EQUAL(rec.count(), 1u);
  const auto& req = rec.seen[0];
  CAF_CHECK_EQUAL(req.method, "POST");
  CAF_CHECK_EQUAL(req.target, "/hooks/a");
  CAF_CHECK_EQUAL(req.body, R"({"execution_id":"e-1"})");
  CAF_CHECK_EQUAL(req.headers.count("idempotency-key"), 1u);
  CAF_CHECK_EQUAL(req.headers.at("idempotency-key"), "e-1:COMPLETED");
  CAF_CHECK_EQUAL(req.headers.at("content-type"), "application/json");
  // A host name goes through the (bounded) resolver instead of the numeric fast path.
  auto by_name =
      post_json("http://localhost:" + std::to_string(server.port()) + "/n", "{}", {}, 2000ms);
  CAF_CHECK_EQUAL(by_name.error, "");
  CAF_CHECK_EQUAL(by_name.status, 201);
}

CAF_TEST(an http error status is a result not an error) {
  recording_handler rec;
  rec.reply = {500, "text/plain", "boom"};
  http_server server("127.0.0.1", 0, rec.fn());
  CAF_REQUIRE(!server.start());
  auto res = post_json(url(server.port()), "{}", {}, 2000ms);
  CAF_CHECK_EQUAL(res.status, 500);
  CAF_CHECK_EQUAL(res.body, "boom");
  CAF_CHECK_EQUAL(res.error, "");
  CAF_CHECK(!res.ok());
}

CAF_TEST(a throwing handler becomes a 500 and the server keeps serving) {
  std::atomic<int> calls{0};
  http_server server("127.0.0.1", 0, [&](const http_request&) -> http_reply {
    if (calls++ == 0) throw std::runtime_error("handler exploded");
    return {200, "text/plain", "fine"};
  });
  CAF_REQUIRE(!server.start());
  auto first = post_json(url(server.port()), "{}", {}, 2000ms);
  CAF_CHECK_EQUAL(first.status, 500);
  CAF_CHECK_EQUAL(first.error, "");
  CAF_CHECK(contains(first.body, "handler exploded"));
  auto second = post_json(url(server.port()), "{}", {}, 2000ms);
  CAF_CHECK_EQUAL(second.status, 200);
  CAF_CHECK_EQUAL(second.body, "fine");
}

CAF_TEST(a refused connection is an error at once) {
  uint16_t port;
  {
    http_server server("127.0.0.1", 0, [](const http_request&) { return http_reply{}; });
    CAF_REQUIRE(!server.start());
    port = server.port();
    server.stop();
    server.stop();  // idempotent
    CAF_CHECK_EQUAL(server.port(), port);
  }
  auto t0 = steady::now();
  auto res = post_json(url(port), "{}", {}, 2000ms);
  auto elapsed = ms_since(t0);
  CAF_MESSAGE("refused after " << elapsed << " ms: " << res.error);
  CAF_CHECK_NOT_EQUAL(res.error, "");
  CAF_CHECK_EQUAL(res.status, 0);
  CAF_CHECK(!res.ok());
  CAF_CHECK_LESS(elapsed, 1000);
}

CAF_TEST(a peer that never answers times out within the deadline) {
  // Listening but never accepting: the kernel completes the handshake and
  // buffers the request, so only the read can hang.
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  CAF_REQUIRE(fd >= 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  CAF_REQUIRE_EQUAL(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  CAF_REQUIRE_EQUAL(::listen(fd, 8), 0);
  socklen_t len = sizeof addr;
  CAF_REQUIRE_EQUAL(::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len), 0);
  const uint16_t port = ntohs(addr.sin_port);
  auto t0 = steady::now();
  auto res = post_json(url(port), "{}", {{"Idempotency-Key", "k"}}, 500ms);
  auto elapsed = ms_since(t0);
  ::close(fd);
  CAF_MESSAGE("timed out after " << elapsed << " ms: " << res.error);
  CAF_CHECK(contains(res.error, "timeout"));
  CAF_CHECK_EQUAL(res.status, 0);
  CAF_CHECK_GREATER_OR_EQUAL(elapsed, 450);
  CAF_CHECK_LESS(elapsed, 2500);
}

CAF_TEST(name resolution is bounded by the same deadline) {
  // Depending on the sandbox this fails fast (NXDOMAIN) or hangs in DNS; both
  // must come back within the deadline plus slack.
  auto t0 = steady::now();
  auto res = post_json("http://postbox-nonexistent.invalid:8080/", "{}", {}, 500ms);
  auto elapsed = ms_since(t0);
  CAF_MESSAGE("unresolvable host after " << elapsed << " ms: " << res.error);
  CAF_CHECK_NOT_EQUAL(res.error, "");
  CAF_CHECK_LESS(elapsed, 2500);
}

CAF_TEST(bad urls and headers fail without a network call) {
  for (auto bad : {"ftp://x", "https://x", "http://"}) {
    auto t0 = steady::now();
    auto res = post_json(bad, "{}", {}, 500ms);
    CAF_CHECK_NOT_EQUAL(res.error, "");
    CAF_CHECK_EQUAL(res.status, 0);
    CAF_CHECK_LESS(ms_since(t0), 100);
  }
  CAF_CHECK(contains(post_json("https://x", "{}", {}, 500ms).error, "https is not supported"));
  auto injected = post_json("http://127.0.0.1:1/", "{}", {{"X-A", "v\r\nX-B: evil"}}, 500ms);
  CAF_CHECK(contains(injected.error, "invalid header"));
}

CAF_TEST(a taken port makes start fail with io_error) {
  http_server first("127.0.0.1", 0, [](const http_request&) { return http_reply{}; });
  CAF_REQUIRE(!first.start());
  http_server second("127.0.0.1", first.port(), [](const http_request&) { return http_reply{}; });
  auto err = second.start();
  CAF_REQUIRE(err);
  CAF_CHECK(is(err, errc::io_error));
  CAF_MESSAGE(describe(err));
  CAF_CHECK(contains(describe(err), "127.0.0.1:" + std::to_string(first.port())));
  CAF_CHECK(is(first.start(), errc::logic_error));  // twice
  // The first server is unaffected.
  CAF_CHECK_EQUAL(post_json(url(first.port()), "{}", {}, 2000ms).status, 200);
}

CAF_TEST(keep alive serves several requests on one connection) {
  recording_handler rec;
  http_server server("127.0.0.1", 0, rec.fn());
  CAF_REQUIRE(!server.start());
  raw_client client(server.port());
  CAF_REQUIRE(client.connected());
  CAF_REQUIRE(client.send("GET /a HTTP/1.1\r\nHost: x\r\n\r\n"));
  auto first = client.receive();
  CAF_CHECK_EQUAL(first.first, 200);
  CAF_CHECK_EQUAL(first.second, "ok");
  CAF_REQUIRE(client.send("POST /b HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n{}"));
  auto second = client.receive();
  CAF_CHECK_EQUAL(second.first, 200);
  CAF_REQUIRE(client.send("GET /c HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"));
  CAF_CHECK_EQUAL(client.receive().first, 200);
  CAF_CHECK(client.closed_by_peer());
  CAF_REQUIRE_EQUAL(rec.count(), 3u);
  CAF_CHECK_EQUAL(rec.seen[1].method, "POST");
  CAF_CHECK_EQUAL(rec.seen[1].body, "{}");
  CAF_CHECK_EQUAL(rec.seen[2].target, "/c");
}

CAF_TEST(request bodies up to 8 MiB are accepted) {
  recording_handler rec;
  http_server server("127.0.0.1", 0, rec.fn());
  CAF_REQUIRE(!server.start());
  // Beyond Beast's 1 MiB default, within ours.
  std::string big = "\"" + std::string(3u << 19, 'x') + "\"";
  auto res = post_json(url(server.port()), big, {}, 5000ms);
  CAF_CHECK_EQUAL(res.status, 200);
  CAF_REQUIRE_EQUAL(rec.count(), 1u);
  CAF_CHECK_EQUAL(rec.seen[0].body.size(), big.size());
  auto too_big = post_json(url(server.port()), std::string(9u << 20, ' '), {}, 5000ms);
  CAF_MESSAGE("9 MiB: status " << too_big.status << ", error '" << too_big.error << "'");
  CAF_CHECK(!too_big.ok());
  CAF_CHECK_EQUAL(rec.count(), 1u);
}

CAF_TEST(a handler that hangs holds a worker not the immediate answers) {
  // The slow handler blocks until released; /healthz is answered on the I/O thread.
  std::mutex mtx;
  std::condition_variable changed;
  int inside = 0;
  bool released = false;
  http_server::options opts;
  opts.workers = 2;
  opts.immediate = [](const http_request& req) -> std::optional<http_reply> {
    if (req.target == "/healthz") return http_reply{503, "text/plain", "unhealthy\n"};
    return std::nullopt;
  };
  http_server server(
      "127.0.0.1", 0,
      [&](const http_request&) {
        std::unique_lock<std::mutex> lock{mtx};
        ++inside;
        changed.notify_all();
        changed.wait_for(lock, 30s, [&] { return released; });
        return http_reply{200, "text/plain", "slow\n"};
      },
      opts);
  CAF_REQUIRE(!server.start());
  // Both workers and then some: two running, one queued.
  std::vector<std::thread> slow;
  std::atomic<int> slow_ok{0};
  for (int i = 0; i < 3; ++i)
    slow.emplace_back([&] {
      if (http_get(url(server.port(), "/page"), 30s).status == 200) ++slow_ok;
    });
  {
    std::unique_lock<std::mutex> lock{mtx};
    CAF_REQUIRE(changed.wait_for(lock, 10s, [&] { return inside == 2; }));
  }
  long long slowest = 0;
  int answered = 0;
  for (int i = 0; i < 20; ++i) {
    auto t0 = steady::now();
    auto r = http_get(url(server.port(), "/healthz"), 1s);
    slowest = std::max(slowest, ms_since(t0));
    if (r.status == 503 && r.body == "unhealthy\n") ++answered;
  }
  CAF_MESSAGE("slowest /healthz while the workers hang: " << slowest << " ms");
  CAF_CHECK_EQUAL(answered, 20);
  CAF_CHECK(slowest < 100);
  {
    std::lock_guard<std::mutex> lock{mtx};
    released = true;
  }
  changed.notify_all();
  for (auto& t : slow) t.join();
  CAF_CHECK_EQUAL(slow_ok.load(), 3);
}

CAF_TEST(connections beyond the cap are refused with 503 and then served again) {
  http_server::options opts;
  opts.max_connections = 2;
  http_server server(
      "127.0.0.1", 0,
      [](const http_request&) {
        http_reply r{200, "text/plain", "ok"};
        r.headers = {{"X-Extra", "yes"}};
        return r;
      },
      opts);
  CAF_REQUIRE(!server.start());
  auto a = std::make_unique<raw_client>(server.port());
  raw_client b(server.port());
  // An answered request proves the server holds the connection open.
  for (raw_client* c : {a.get(), &b}) {
    CAF_REQUIRE(c->send("GET / HTTP/1.1\r\nHost: x\r\n\r\n"));
    CAF_REQUIRE_EQUAL(c->receive().first, 200);
  }
  auto third = http_get(url(server.port()), 2s);
  CAF_CHECK_EQUAL(third.status, 503);
  CAF_CHECK(contains(third.body, "too many connections"));
  a.reset();  // closed: its session ends and frees a place
  CAF_CHECK(test_wait([&] { return http_get(url(server.port()), 2s).status == 200; }, 5s));
}

CAF_TEST(reply headers are sent and a header with a line break is a 500) {
  std::atomic<bool> bad{false};
  http_server server("127.0.0.1", 0, [&](const http_request&) {
    http_reply r{200, "text/plain", "ok"};
    r.headers = {{"Set-Cookie", bad ? "a=b\r\nX-Injected: 1" : "a=b; SameSite=Strict"}};
    return r;
  });
  CAF_REQUIRE(!server.start());
  raw_client c(server.port());
  CAF_REQUIRE(c.send("GET / HTTP/1.1\r\nHost: x\r\n\r\n"));
  CAF_CHECK_EQUAL(c.receive().first, 200);
  CAF_CHECK(contains(c.last_head(), "set-cookie: a=b; samesite=strict"));
  bad = true;
  CAF_CHECK_EQUAL(http_get(url(server.port()), 2s).status, 500);
}

CAF_TEST(the webhook sink fails the first posts and logs accepted ones) {
  const auto bin = sink_binary();
  if (bin.empty()) {
    CAF_MESSAGE("POSTBOX_BIN_DIR is not set: skipping the postbox-webhook-sink test");
    return;
  }
  char path[] = "/tmp/postbox-http-test-XXXXXX";
  int tmp = ::mkstemp(path);
  CAF_REQUIRE(tmp >= 0);
  ::close(tmp);
  const std::string out = path;
  auto child = spawn({bin, "--port", "0", "--fail-first", "2", "--out", out});
  CAF_REQUIRE(child.pid > 0);
  auto text = read_stderr_until(child.stderr_fd, "listening on ", 10s);
  auto at = text.find("listening on 127.0.0.1:");
  if (at == std::string::npos) {
    ::kill(child.pid, SIGKILL);
    wait_exit(child.pid, 5s);
    ::close(child.stderr_fd);
    ::unlink(path);
    CAF_FAIL("the sink did not report its port; stderr: " << text);
  }
  const auto port = static_cast<uint16_t>(std::stoi(text.substr(at + 23)));
  CAF_MESSAGE("sink on port " << port);
  std::vector<int> statuses;
  for (int i = 0; i < 3; ++i)
    statuses.push_back(post_json(url(port, "/hook"), R"({"execution_id":"e-1","n":1})",
                                 {{"Idempotency-Key", "k1"}}, 2000ms)
                           .status);
  CAF_CHECK_EQUAL(statuses, std::vector<int>({503, 503, 200}));
  {
    raw_client client(port);
    CAF_REQUIRE(client.connected());
    CAF_REQUIRE(client.send("GET /count HTTP/1.1\r\nHost: x\r\n\r\n"));
    auto count = client.receive();
    CAF_CHECK_EQUAL(count.first, 200);
    CAF_CHECK_EQUAL(count.second, "1");
  }
  std::vector<std::string> lines;
  {
    std::ifstream in(out);
    for (std::string line; std::getline(in, line);) lines.push_back(line);
  }
  CAF_CHECK_EQUAL(lines.size(), 1u);
  if (!lines.empty()) {
    CAF_CHECK(contains(lines[0], R"("idempotency_key":"k1")"));
    CAF_CHECK(contains(lines[0], R"("body":{"execution_id":"e-1","n":1})"));
  }
  CAF_CHECK_EQUAL(::kill(child.pid, SIGTERM), 0);
  CAF_CHECK_EQUAL(wait_exit(child.pid, 5s), 0);
  ::close(child.stderr_fd);
  ::unlink(path);
}

CAF_TEST(the webhook sink rejects a bad command line with exit code 2) {
  const auto bin = sink_binary();
  if (bin.empty()) {
    CAF_MESSAGE("POSTBOX_BIN_DIR is not set: skipping the postbox-webhook-sink test");
    return;
  }
  for (auto args : std::vector<std::vector<std::string>>{{bin, "--bogus", "1"},
                                                         {bin},
                                                         {bin, "--port", "x"},
                                                         {bin, "--port", "0", "--fail-first"}}) {
    auto child = spawn(args);
    CAF_REQUIRE(child.pid > 0);
    CAF_CHECK_EQUAL(wait_exit(child.pid, 5s), 2);
    auto text = read_stderr_until(child.stderr_fd, "\n", 1s);
    ::close(child.stderr_fd);
    CAF_CHECK(contains(text, "postbox-webhook-sink: "));
    CAF_CHECK_EQUAL(std::count(text.begin(), text.end(), '\n'), 1);
  }
}

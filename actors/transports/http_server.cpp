// http_server: an async Beast accept loop on one io_context and one thread; a
// session per connection, kept alive by its pending operations (shared_from_this).
// Handlers run on a second io_context served by a few worker threads; their reply
// is posted back to the I/O thread, which alone touches the sockets.
#include "actors/transports/http_server.hpp"

#include <algorithm>
#include <atomic>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/address.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core/error.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/string.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http.hpp>
#include <cctype>
#include <chrono>
#include <exception>
#include <mutex>
#include <optional>
#include <thread>
#include <vector>

namespace postbox {

namespace {

namespace beast = boost::beast;
namespace http = beast::http;
namespace net = boost::asio;
using tcp = net::ip::tcp;
using namespace std::chrono_literals;

constexpr std::size_t request_body_limit = 8u << 20;
constexpr auto idle_timeout = 30s;

using response = http::response<http::string_body>;

std::string lower(beast::string_view s) {
  std::string out(s.data(), s.size());
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}

bool has_line_break(const std::string& s) {
  return std::any_of(s.begin(), s.end(), [](char c) { return c == '\r' || c == '\n' || c == 0; });
}

std::string authority(const std::string& host, uint16_t port) {
  auto h = host.find(':') != std::string::npos ? "[" + host + "]" : host;
  return h + ":" + std::to_string(port);
}

std::shared_ptr<response> plain(http::status status, unsigned version, std::string body,
                                bool keep_alive) {
  auto res = std::make_shared<response>(status, version);
  res->set(http::field::server, "postbox");
  res->set(http::field::content_type, "text/plain");
  res->body() = std::move(body);
  res->keep_alive(keep_alive);
  res->prepare_payload();
  return res;
}

/// What every session shares with its server: the handlers, the worker pool and
/// the count of open connections (the impl outlives every session).
struct server_core {
  http_server::handler handler;
  http_server::immediate_handler immediate;
  net::io_context* workers = nullptr;
  std::atomic<std::size_t> live{0};
};

/// `out` as a response: an invalid status, content type, location or header is the
/// handler's bug, answered with a 500 (a line break would split the response).
std::shared_ptr<response> to_response(http_reply out, unsigned version, bool keep_alive,
                                      bool head) {
  if (out.status < 200 || out.status > 999)
    return plain(http::status::internal_server_error, version,
                 "handler returned invalid status " + std::to_string(out.status) + "\n",
                 keep_alive);
  bool bad = has_line_break(out.content_type) || has_line_break(out.location);
  for (const auto& [name, value] : out.headers)
    bad = bad || name.empty() || has_line_break(name) || has_line_break(value) ||
          name.find(':') != std::string::npos;
  if (bad)
    return plain(http::status::internal_server_error, version,
                 "handler returned an invalid content type, location or header\n", keep_alive);
  auto res = std::make_shared<response>();
  res->version(version);
  res->result(static_cast<unsigned>(out.status));
  res->set(http::field::server, "postbox");
  res->set(http::field::content_type, out.content_type);
  if (!out.location.empty()) res->set(http::field::location, out.location);
  for (const auto& [name, value] : out.headers) res->insert(name, value);
  res->keep_alive(keep_alive);
  if (out.status == 204 || out.status == 304) {
    // These must not carry a body (prepare_payload would throw).
  } else if (head) {
    res->content_length(out.body.size());
  } else {
    res->body() = std::move(out.body);
    res->prepare_payload();
  }
  return res;
}

/// Runs a handler; what it throws becomes a 500.
template <class F>
auto guarded(F&& fn, const http_request& in) -> decltype(fn(in)) {
  try {
    return fn(in);
  } catch (const std::exception& e) {
    return http_reply{500, "text/plain", std::string("internal error: ") + e.what() + "\n"};
  } catch (...) {
    return http_reply{500, "text/plain", "internal error\n"};
  }
}

class session : public std::enable_shared_from_this<session> {
 public:
  session(tcp::socket socket, server_core* core) : stream_(std::move(socket)), core_(core) {
    ++core_->live;
  }
  ~session() { --core_->live; }

  void start() { do_read(); }

 private:
  void do_read() {
    parser_.emplace();
    parser_->body_limit(request_body_limit);
    stream_.expires_after(idle_timeout);
    http::async_read_header(
        stream_, buffer_, *parser_,
        [self = shared_from_this()](beast::error_code ec, std::size_t) { self->on_header(ec); });
  }

  // curl sends "Expect: 100-continue" for large bodies and waits a second for
  // the interim answer before sending anyway; answering avoids that stall.
  void on_header(beast::error_code ec) {
    if (ec) return on_error(ec);
    auto& req = parser_->get();
    if (!parser_->is_done() && beast::iequals(req[http::field::expect], "100-continue")) {
      auto cont = std::make_shared<http::response<http::empty_body>>(http::status::continue_,
                                                                     req.version());
      http::async_write(stream_, *cont,
                        [self = shared_from_this(), cont](beast::error_code ec2, std::size_t) {
                          if (ec2) return self->do_close();
                          self->read_body();
                        });
      return;
    }
    read_body();
  }

  void read_body() {
    if (parser_->is_done()) return on_read({});
    stream_.expires_after(idle_timeout);
    http::async_read(
        stream_, buffer_, *parser_,
        [self = shared_from_this()](beast::error_code ec, std::size_t) { self->on_read(ec); });
  }

  void on_error(beast::error_code ec) {
    if (ec == http::error::end_of_stream) return do_close();
    if (ec == http::error::body_limit)
      return send(
          plain(http::status::payload_too_large, 11, "request body exceeds 8 MiB\n", false));
    if (ec.category() == http::make_error_code(http::error::bad_target).category() &&
        ec != http::error::partial_message)
      return send(
          plain(http::status::bad_request, 11, "bad request: " + ec.message() + "\n", false));
    do_close();  // timeout, reset, aborted: nobody to answer
  }

  void on_read(beast::error_code ec) {
    if (ec) return on_error(ec);
    auto& req = parser_->get();
    version_ = req.version();
    keep_alive_ = req.keep_alive();
    head_ = req.method() == http::verb::head;
    http_request in;
    try {
      in.method = std::string(req.method_string());
      in.target = std::string(req.target());
      in.body = std::move(req.body());
      for (const auto& field : req) {
        auto [it, fresh] =
            in.headers.emplace(lower(field.name_string()), std::string(field.value()));
        if (!fresh) it->second += ", " + std::string(field.value());
      }
    } catch (...) {
      return send(plain(http::status::internal_server_error, version_, "internal error\n", false));
    }
    if (core_->immediate) {
      if (auto now = guarded(core_->immediate, in)) return reply(std::move(*now));
    }
    // No deadline while the handler runs: the read timer must not close the
    // connection under it.
    stream_.expires_never();
    net::post(*core_->workers, [self = shared_from_this(), in = std::move(in)]() {
      http_reply out = guarded(self->core_->handler, in);
      net::post(self->stream_.get_executor(),
                [self, out = std::move(out)]() mutable { self->reply(std::move(out)); });
    });
  }

  void reply(http_reply out) { send(to_response(std::move(out), version_, keep_alive_, head_)); }

  void send(std::shared_ptr<response> res) {
    stream_.expires_after(idle_timeout);
    http::async_write(stream_, *res,
                      [self = shared_from_this(), res](beast::error_code ec, std::size_t) {
                        if (ec || !res->keep_alive()) return self->do_close();
                        self->do_read();
                      });
  }

  void do_close() {
    beast::error_code ignored;
    stream_.socket().shutdown(tcp::socket::shutdown_send, ignored);
    stream_.socket().close(ignored);
  }

  beast::tcp_stream stream_;
  beast::flat_buffer buffer_;
  std::optional<http::request_parser<http::string_body>> parser_;
  server_core* core_;
  unsigned version_ = 11;
  bool keep_alive_ = false;
  bool head_ = false;
};

/// Over the connection cap: one 503 written without waiting (it fits any socket
/// buffer), then closed; the I/O thread never blocks on a client.
void refuse_busy(tcp::socket socket) {
  static const std::string busy =
      "HTTP/1.1 503 Service Unavailable\r\nServer: postbox\r\nContent-Type: text/plain\r\n"
      "Retry-After: 1\r\nConnection: close\r\nContent-Length: 21\r\n\r\ntoo many connections\n";
  beast::error_code ignored;
  socket.non_blocking(true, ignored);
  socket.write_some(net::buffer(busy), ignored);
  socket.shutdown(tcp::socket::shutdown_send, ignored);
  socket.close(ignored);
}

}  // namespace

struct http_server::impl {
  enum class state { idle, running, stopped };

  std::string host;
  uint16_t requested_port;
  options opts;
  server_core core;
  std::atomic<uint16_t> bound_port{0};
  std::mutex mtx;
  state current = state::idle;
  std::thread thread;
  std::vector<std::thread> worker_threads;
  // Destroyed in reverse order: the workers' context first (its queued requests
  // hold sessions), then the listener and timer, then their io_context, whose
  // destruction frees every session still waiting on it.
  std::unique_ptr<net::io_context> ioc;
  std::unique_ptr<tcp::acceptor> acceptor;
  std::unique_ptr<net::steady_timer> backoff;
  std::unique_ptr<net::io_context> workers;
  std::optional<net::executor_work_guard<net::io_context::executor_type>> keep_workers;

  void do_accept() {
    acceptor->async_accept(*ioc, [this](beast::error_code ec, tcp::socket socket) {
      if (ec == net::error::operation_aborted || !acceptor->is_open()) return;
      if (ec) {
        // EMFILE and friends: retrying at once would spin the thread.
        backoff->expires_after(50ms);
        backoff->async_wait([this](beast::error_code ec2) {
          if (!ec2) do_accept();
        });
        return;
      }
      try {
        if (core.live >= opts.max_connections)
          refuse_busy(std::move(socket));
        else
          std::make_shared<session>(std::move(socket), &core)->start();
      } catch (...) {
        // The connection is dropped; the listener must keep going.
      }
      do_accept();
    });
  }

  static void run(net::io_context& ctx) {
    for (;;) {
      try {
        ctx.run();
        return;
      } catch (...) {
        // Sessions catch handler exceptions; anything else escaping must not
        // end the server.
      }
    }
  }

  bool on_own_thread() const {
    const auto me = std::this_thread::get_id();
    if (thread.get_id() == me) return true;
    for (const auto& t : worker_threads)
      if (t.get_id() == me) return true;
    return false;
  }
};

http_server::http_server(std::string host, uint16_t port, handler h)
    : http_server(std::move(host), port, std::move(h), options{}) {}

http_server::http_server(std::string host, uint16_t port, handler h, options opts)
    : impl_(new impl) {
  impl_->host = std::move(host);
  impl_->requested_port = port;
  if (opts.workers == 0) opts.workers = 1;
  if (opts.max_connections == 0) opts.max_connections = 1;
  impl_->core.handler = std::move(h);
  impl_->core.immediate = opts.immediate;
  impl_->opts = std::move(opts);
}

http_server::~http_server() {
  stop();
  // Threads are still joinable only when stop() ran on one of them (from a handler).
  auto finish = [](std::thread& t) {
    if (!t.joinable()) return;
    if (t.get_id() == std::this_thread::get_id())
      t.detach();
    else
      t.join();
  };
  finish(impl_->thread);
  for (auto& t : impl_->worker_threads) finish(t);
}

caf::error http_server::start() {
  std::lock_guard<std::mutex> guard(impl_->mtx);
  if (impl_->current != impl::state::idle)
    return make_error(
        errc::logic_error,
        "http server on " + authority(impl_->host, impl_->requested_port) + " was already started");
  const auto where = authority(impl_->host, impl_->requested_port);
  try {
    auto ioc = std::make_unique<net::io_context>(1);
    beast::error_code ec;
    tcp::endpoint endpoint;
    auto addr = net::ip::make_address(impl_->host, ec);
    if (!ec) {
      endpoint = tcp::endpoint(addr, impl_->requested_port);
    } else {
      tcp::resolver resolver(*ioc);
      auto results = resolver.resolve(impl_->host, std::to_string(impl_->requested_port), ec);
      if (ec || results.empty())
        return make_error(errc::io_error,
                          "cannot listen on " + where + ": " +
                              (ec ? ec.message() : std::string("host has no address")));
      endpoint = results.begin()->endpoint();
    }
    auto acceptor = std::make_unique<tcp::acceptor>(*ioc);
    auto fail = [&](const char* what) {
      return make_error(errc::io_error,
                        "cannot listen on " + where + ": " + what + ": " + ec.message());
    };
    if (acceptor->open(endpoint.protocol(), ec); ec) return fail("open");
    // Lets a restarted server rebind over TIME_WAIT; Linux still refuses a
    // second live listener on the same port.
    if (acceptor->set_option(net::socket_base::reuse_address(true), ec); ec)
      return fail("setsockopt");
    if (acceptor->bind(endpoint, ec); ec) return fail("bind");
    if (acceptor->listen(net::socket_base::max_listen_connections, ec); ec) return fail("listen");
    auto local = acceptor->local_endpoint(ec);
    if (ec) return fail("getsockname");
    impl_->backoff = std::make_unique<net::steady_timer>(*ioc);
    impl_->workers = std::make_unique<net::io_context>(1);
    impl_->keep_workers.emplace(impl_->workers->get_executor());
    impl_->core.workers = impl_->workers.get();
    impl_->ioc = std::move(ioc);
    impl_->acceptor = std::move(acceptor);
    impl_->bound_port = local.port();
    impl_->do_accept();
    impl_->thread = std::thread([p = impl_.get()] { impl::run(*p->ioc); });
    for (std::size_t i = 0; i < impl_->opts.workers; ++i)
      impl_->worker_threads.emplace_back([p = impl_.get()] { impl::run(*p->workers); });
    impl_->current = impl::state::running;
    return {};
  } catch (const std::exception& e) {
    impl_->keep_workers.reset();
    impl_->workers.reset();
    impl_->backoff.reset();
    impl_->acceptor.reset();
    impl_->ioc.reset();
    return make_error(errc::io_error, "cannot listen on " + where + ": " + e.what());
  }
}

uint16_t http_server::port() const {
  return impl_->bound_port;
}

void http_server::stop() {
  std::thread io_thread;
  std::vector<std::thread> worker_threads;
  {
    std::lock_guard<std::mutex> guard(impl_->mtx);
    if (impl_->current != impl::state::running) return;
    impl_->current = impl::state::stopped;
    impl_->ioc->stop();
    // Requests not yet picked up are dropped; handlers running now finish.
    impl_->keep_workers.reset();
    impl_->workers->stop();
    // Joining ourselves would deadlock; the destructor joins instead.
    if (impl_->on_own_thread()) return;
    io_thread = std::move(impl_->thread);
    worker_threads = std::move(impl_->worker_threads);
    impl_->worker_threads.clear();
  }
  // Joined outside the lock: a handler may call stop() or port() meanwhile.
  io_thread.join();
  for (auto& t : worker_threads) t.join();
  std::lock_guard<std::mutex> guard(impl_->mtx);
  beast::error_code ignored;
  impl_->acceptor->close(ignored);
  impl_->workers.reset();
  impl_->backoff.reset();
  impl_->acceptor.reset();
  impl_->ioc.reset();
}

}  // namespace postbox

// http_server: an async Beast accept loop on one io_context and one thread; a
// session per connection, kept alive by its pending operations (shared_from_this).
#include "actors/transports/http_server.hpp"

#include <algorithm>
#include <atomic>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/address.hpp>
#include <boost/asio/ip/tcp.hpp>
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

namespace postbox {

namespace {

namespace beast = boost::beast;
namespace http = beast::http;
namespace net = boost::asio;
using tcp = net::ip::tcp;
using namespace std::chrono_literals;

constexpr std::size_t request_body_limit = 8u << 20;
constexpr auto idle_timeout = 30s;

using handler_ptr = std::shared_ptr<const http_server::handler>;
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

class session : public std::enable_shared_from_this<session> {
 public:
  session(tcp::socket socket, handler_ptr h) : stream_(std::move(socket)), handler_(std::move(h)) {}

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
    send(handle());
  }

  std::shared_ptr<response> handle() {
    auto& req = parser_->get();
    const unsigned version = req.version();
    const bool keep_alive = req.keep_alive();
    const bool head = req.method() == http::verb::head;
    try {
      http_request in;
      in.method = std::string(req.method_string());
      in.target = std::string(req.target());
      in.body = std::move(req.body());
      for (const auto& field : req) {
        auto [it, fresh] =
            in.headers.emplace(lower(field.name_string()), std::string(field.value()));
        if (!fresh) it->second += ", " + std::string(field.value());
      }
      http_reply out = (*handler_)(in);
      if (out.status < 200 || out.status > 999)
        return plain(http::status::internal_server_error, version,
                     "handler returned invalid status " + std::to_string(out.status) + "\n",
                     keep_alive);
      if (has_line_break(out.content_type) || has_line_break(out.location))
        return plain(http::status::internal_server_error, version,
                     "handler returned an invalid content type or location\n", keep_alive);
      auto res = std::make_shared<response>();
      res->version(version);
      res->result(static_cast<unsigned>(out.status));
      res->set(http::field::server, "postbox");
      res->set(http::field::content_type, out.content_type);
      if (!out.location.empty()) res->set(http::field::location, out.location);
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
    } catch (const std::exception& e) {
      return plain(http::status::internal_server_error, version,
                   std::string("internal error: ") + e.what() + "\n", keep_alive);
    } catch (...) {
      return plain(http::status::internal_server_error, version, "internal error\n", keep_alive);
    }
  }

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
  handler_ptr handler_;
};

}  // namespace

struct http_server::impl {
  enum class state { idle, running, stopped };

  std::string host;
  uint16_t requested_port;
  handler_ptr on_request;
  std::atomic<uint16_t> bound_port{0};
  std::mutex mtx;
  state current = state::idle;
  std::thread thread;
  // Destroyed in reverse order: the listener and timer before their io_context,
  // whose destruction frees every session still waiting on it.
  std::unique_ptr<net::io_context> ioc;
  std::unique_ptr<tcp::acceptor> acceptor;
  std::unique_ptr<net::steady_timer> backoff;

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
        std::make_shared<session>(std::move(socket), on_request)->start();
      } catch (...) {
        // The connection is dropped; the listener must keep going.
      }
      do_accept();
    });
  }

  void run() {
    for (;;) {
      try {
        ioc->run();
        return;
      } catch (...) {
        // Sessions catch handler exceptions; anything else escaping must not
        // end the server.
      }
    }
  }
};

http_server::http_server(std::string host, uint16_t port, handler h) : impl_(new impl) {
  impl_->host = std::move(host);
  impl_->requested_port = port;
  impl_->on_request = std::make_shared<const handler>(std::move(h));
}

http_server::~http_server() {
  stop();
  if (impl_->thread.joinable()) {
    // Only when stop() ran on the I/O thread itself (from a handler).
    if (impl_->thread.get_id() == std::this_thread::get_id())
      impl_->thread.detach();
    else
      impl_->thread.join();
  }
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
    impl_->ioc = std::move(ioc);
    impl_->acceptor = std::move(acceptor);
    impl_->bound_port = local.port();
    impl_->do_accept();
    impl_->thread = std::thread([p = impl_.get()] { p->run(); });
    impl_->current = impl::state::running;
    return {};
  } catch (const std::exception& e) {
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
  {
    std::lock_guard<std::mutex> guard(impl_->mtx);
    if (impl_->current != impl::state::running) return;
    impl_->current = impl::state::stopped;
    impl_->ioc->stop();
    // Joining ourselves would deadlock; the destructor joins instead.
    if (impl_->thread.get_id() == std::this_thread::get_id()) return;
    io_thread = std::move(impl_->thread);
  }
  // Joined outside the lock: a handler may call stop() or port() meanwhile.
  io_thread.join();
  std::lock_guard<std::mutex> guard(impl_->mtx);
  beast::error_code ignored;
  impl_->acceptor->close(ignored);
  impl_->backoff.reset();
  impl_->acceptor.reset();
  impl_->ioc.reset();
}

}  // namespace postbox

// pqxx notification_receiver on its own connection (never a pooled one: LISTEN
// does not survive transaction pooling).
#include "persistence/notification_listener.hpp"

#include <pqxx/pqxx>

#include "persistence/conninfo.hpp"

namespace postbox {

namespace {

class collector : public pqxx::notification_receiver {
 public:
  collector(pqxx::connection_base& c, const std::string& channel, std::vector<std::string>& out)
      : pqxx::notification_receiver(c, channel), out_(out) {}
  void operator()(const std::string& payload, int) override { out_.push_back(payload); }

 private:
  std::vector<std::string>& out_;
};

}  // namespace

struct notification_listener::impl {
  std::string dsn;       // as given: only to scrub its password out of messages
  std::string conninfo;  // parsed, with application_name and keepalive defaults
  caf::error conninfo_error;
  std::string server_settings;
  std::string channel;
  std::vector<std::string> received;
  uint64_t connects = 0;
  std::unique_ptr<pqxx::connection> conn;
  std::unique_ptr<collector> receiver;

  void drop() {
    receiver.reset();
    conn.reset();
  }
};

notification_listener::notification_listener(std::string dsn, std::string channel)
    : impl_(std::make_unique<impl>()) {
  if (auto ci = connection_string(dsn, "postbox-listener")) {
    impl_->conninfo = std::move(*ci);
    impl_->server_settings = server_keepalive_settings(impl_->conninfo);
  } else {
    impl_->conninfo_error = std::move(ci.error());
  }
  impl_->dsn = std::move(dsn);
  impl_->channel = std::move(channel);
}

notification_listener::~notification_listener() {
  // The receiver must go before its connection.
  impl_->drop();
}

uint64_t notification_listener::connects() const {
  return impl_->connects;
}

caf::expected<std::vector<std::string>> notification_listener::wait(
    std::chrono::milliseconds timeout) {
  if (impl_->conninfo_error) return impl_->conninfo_error;
  try {
    if (!impl_->conn) {
      auto c = std::make_unique<pqxx::connection>(impl_->conninfo);
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
      c->inhibit_reactivation(true);
#pragma GCC diagnostic pop
      if (!impl_->server_settings.empty()) {
        pqxx::nontransaction n{*c};
        n.exec(impl_->server_settings);
      }
      impl_->receiver = std::make_unique<collector>(*c, impl_->channel, impl_->received);
      impl_->conn = std::move(c);
      // LISTEN is sent lazily by pqxx; force it now so no notification is missed.
      impl_->conn->get_notifs();
      ++impl_->connects;
    }
    auto secs = static_cast<long>(timeout.count() / 1000);
    auto usecs = static_cast<long>((timeout.count() % 1000) * 1000);
    auto start = std::chrono::steady_clock::now();
    impl_->conn->await_notification(secs, usecs);
    // await_notification also returns 0 at once when the backend died: an early
    // empty return is probed with a query, which throws on a dead connection.
    if (impl_->received.empty() && std::chrono::steady_clock::now() - start < timeout * 9 / 10) {
      pqxx::nontransaction probe{*impl_->conn};
      probe.exec("SELECT 1");
    }
    std::vector<std::string> out;
    out.swap(impl_->received);
    return out;
  } catch (const std::exception& e) {
    impl_->drop();
    return make_error(errc::connection_lost, "listener: " + scrub_secrets(e.what(), impl_->dsn));
  }
}

}  // namespace postbox

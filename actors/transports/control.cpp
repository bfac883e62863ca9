// Token, system configuration, publish and connect for the control plane.
#include "actors/transports/control.hpp"

#include <caf/all.hpp>
#include <caf/io/all.hpp>
#include <caf/openssl/all.hpp>
#include <cstdlib>
#include <fstream>
#include <sstream>

namespace postbox {

caf::expected<std::string> control_token(const control_config& c) {
  if (!c.token_env.empty()) {
    const char* v = std::getenv(c.token_env.c_str());
    if (!v || !*v)
      return make_error(errc::config_error,
                        "control.token_env: environment variable " + c.token_env + " is not set");
    return std::string(v);
  }
  if (!c.token_file.empty()) {
    std::ifstream in(c.token_file);
    std::stringstream text;
    text << in.rdbuf();
    if (!in)
      return make_error(errc::config_error, "control.token_file: cannot read " + c.token_file);
    auto t = text.str();
    while (!t.empty() && (t.back() == '\n' || t.back() == '\r' || t.back() == ' ')) t.pop_back();
    if (t.empty())
      return make_error(errc::config_error, "control.token_file: " + c.token_file + " is empty");
    return t;
  }
  return std::string{};
}

void configure_control(caf::actor_system_config& cfg, const control_config& c) {
  cfg.load<caf::io::middleman>();
  cfg.set("middleman.heartbeat-interval", caf::timespan{c.heartbeat});
  cfg.set("middleman.connection-timeout", caf::timespan{c.connection_timeout});
  if (c.tls()) {
    cfg.load<caf::openssl::manager>();
    cfg.openssl_certificate = c.tls_certificate;
    cfg.openssl_key = c.tls_key;
    cfg.openssl_cafile = c.tls_cafile;
  }
}

caf::expected<uint16_t> publish_control(caf::actor_system& sys, const control_api& control,
                                        const control_config& c, uint16_t port) {
  if (c.tls()) return caf::openssl::publish(control, port, c.bind.c_str(), true);
  return sys.middleman().publish(control, port, c.bind.c_str(), true);
}

void unpublish_control(caf::actor_system& sys, const control_api& control, const control_config&) {
  // 0.17.6's caf::openssl::unpublish does not compile; the middleman's covers both.
  (void)sys.middleman().unpublish(control);
}

caf::expected<control_api> connect_control(caf::actor_system& sys, const control_config& c,
                                           const std::string& host, uint16_t port) {
  if (c.tls()) return caf::openssl::remote_actor<control_api>(sys, host, port);
  return sys.middleman().remote_actor<control_api>(host, port);
}

}  // namespace postbox

// Requests to a node's control actor from a scoped (blocking) actor, each with
// the configured request timeout: CAF 0.17 does not fail requests in flight when
// a node dies, it only times them out.
#include "client/control_client.hpp"

#include <caf/all.hpp>
#include <caf/io/all.hpp>
#include <cstdlib>

#include "actors/runtime/atoms.hpp"
#include "actors/transports/control.hpp"
#include "persistence/execution_json.hpp"
#include "persistence/inspect_store.hpp"

namespace postbox {

std::vector<control_target> control_targets(const topology* topo, inspect_store& inspect) {
  std::vector<control_target> out;
  if (topo) {
    for (const auto& [name, node] : topo->nodes)
      if (node.control_port != 0) out.push_back({name, node.host, node.control_port});
    return out;
  }
  if (auto nodes = inspect.nodes())
    for (const auto& n : *nodes)
      if (n.control_port > 0 && n.heartbeat_age_s < 10)
        out.push_back({n.name, n.host, static_cast<uint16_t>(n.control_port)});
  return out;
}

std::string client_control_token(const topology* topo) {
  if (topo && (!topo->control.token_env.empty() || !topo->control.token_file.empty())) {
    auto t = control_token(topo->control);
    return t ? *t : std::string{};
  }
  const char* env = std::getenv("POSTBOX_CONTROL_TOKEN");
  return env ? env : "";
}

struct control_client::impl {
  control_config cfg;
  std::string token;
  caf::actor_system_config sys_cfg;
  std::unique_ptr<caf::actor_system> sys;
  control_api node;

  template <class... Ts>
  caf::expected<std::string> ask(Ts&&... xs) {
    if (!node) return make_error(errc::unreachable, "not connected to a control actor");
    caf::scoped_actor self{*sys};
    caf::expected<std::string> out = make_error(errc::timeout, "no answer");
    self->request(node, cfg.request_timeout, std::forward<Ts>(xs)...)
        .receive([&](std::string& text) { out = std::move(text); },
                 [&](caf::error& err) {
                   out = err.category() == errc_category()
                             ? err
                             : make_error(errc::unreachable, sys->render(err));
                 });
    return out;
  }
};

control_client::control_client(control_config cfg, std::string token)
    : impl_(std::make_unique<impl>()) {
  impl_->cfg = std::move(cfg);
  impl_->token = std::move(token);
  configure_control(impl_->sys_cfg, impl_->cfg);
  impl_->sys = std::make_unique<caf::actor_system>(impl_->sys_cfg);
}

control_client::~control_client() {
  impl_->node = nullptr;
  impl_->sys.reset();
}

caf::expected<std::string> control_client::connect(const std::vector<control_target>& targets) {
  std::string tried;
  for (const auto& t : targets) {
    auto a = connect_control(*impl_->sys, impl_->cfg, t.host, t.port);
    if (a) {
      impl_->node = *a;
      return t.node;
    }
    tried +=
        (tried.empty() ? "" : ", ") + t.node + " (" + t.host + ":" + std::to_string(t.port) + ")";
  }
  return make_error(errc::unreachable,
                    targets.empty() ? "no node publishes a control actor" : "tried " + tried);
}

caf::expected<std::string> control_client::info() {
  return impl_->ask(info_atom::value, impl_->token);
}

caf::expected<std::string> control_client::pause(const std::string& queue) {
  return impl_->ask(pause_atom::value, impl_->token, queue, true);
}

caf::expected<std::string> control_client::resume(const std::string& queue) {
  return impl_->ask(resume_atom::value, impl_->token, queue, true);
}

caf::expected<std::string> control_client::drain() {
  return impl_->ask(drain_atom::value, impl_->token);
}

caf::expected<execution_record> control_client::watch(
    const std::string& execution_id, const std::function<void(const execution_record&)>& progress) {
  auto& d = *impl_;
  if (!d.node) return make_error(errc::unreachable, "not connected to a control actor");
  caf::scoped_actor self{*d.sys};
  caf::expected<std::string> first = make_error(errc::timeout, "no answer");
  self->request(d.node, d.cfg.request_timeout, watch_atom::value, d.token, execution_id)
      .receive([&](std::string& text) { first = std::move(text); },
               [&](caf::error& err) {
                 first = err.category() == errc_category()
                             ? err
                             : make_error(errc::unreachable, d.sys->render(err));
               });
  if (!first) return first.error();
  auto current = execution_from_json(*first);
  if (!current) return current.error();
  for (;;) {
    if (progress) progress(*current);
    if (is_terminal(current->status)) return current;
    caf::error failure;
    self->receive(
        [&](progress_atom, std::string& text) {
          if (auto e = execution_from_json(text)) current = std::move(*e);
        },
        caf::after(d.cfg.request_timeout) >>
            [&] {
              // Quiet for a while: make sure the node is still there.
              self->request(d.node, d.cfg.request_timeout, status_atom::value, d.token,
                            execution_id)
                  .receive(
                      [&](std::string& text) {
                        if (auto e = execution_from_json(text)) current = std::move(*e);
                      },
                      [&](caf::error& err) {
                        failure = make_error(errc::unreachable, d.sys->render(err));
                      });
            });
    if (failure) return failure;
  }
}

}  // namespace postbox

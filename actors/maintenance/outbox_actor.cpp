// The outbox dispatcher as an actor: a sweep, then the next one after the
// interval (at once while there is more to send). Detached: POSTs block.
#include <caf/all.hpp>

#include "actors/maintenance/outbox_dispatcher.hpp"
#include "actors/runtime/actors.hpp"
#include "actors/runtime/atoms.hpp"
#include "actors/runtime/log.hpp"

namespace postbox {

namespace {

struct outbox_state {
  static inline const char* name = "postbox.outbox";
  std::unique_ptr<pg_session> session;
  std::unique_ptr<outbox_dispatcher> dispatcher;
};

caf::behavior outbox_actor(caf::stateful_actor<outbox_state>* self, runtime_ptr rt) {
  auto& st = self->state;
  st.session = std::make_unique<pg_session>(rt->session("postbox-outbox"));
  outbox_dispatcher_config cfg;
  cfg.webhook_url = rt->topo.webhooks.url;
  cfg.max_attempts = rt->topo.webhooks.max_attempts;
  cfg.timeout = rt->topo.webhooks.timeout;
  cfg.usage_url = rt->topo.usage.url;
  cfg.usage_max_attempts = rt->topo.usage.max_attempts;
  cfg.usage_timeout = rt->topo.usage.timeout;
  st.dispatcher = std::make_unique<outbox_dispatcher>(*st.session, cfg, rt->node_name + "/outbox");
  self->send(self, tick_atom::value);
  return {
      [=](tick_atom) {
        auto r = self->state.dispatcher->run_once();
        if (!r) {
          log_line(rt->node_name, "outbox: " + describe(r.error()));
        } else {
          if (r->delivered + r->retrying + r->failed > 0)
            log_line(rt->node_name, "outbox: " + std::to_string(r->delivered) + " delivered, " +
                                        std::to_string(r->retrying) + " to retry, " +
                                        std::to_string(r->failed) + " failed for good");
          if (r->delivered + r->retrying + r->failed > 0) {
            self->send(self, tick_atom::value);
            return;
          }
        }
        self->delayed_send(self, rt->outbox_interval, tick_atom::value);
      },
  };
}

}  // namespace

caf::actor spawn_outbox(caf::actor_system& sys, runtime_ptr rt) {
  return sys.spawn<caf::detached>(outbox_actor, std::move(rt));
}

}  // namespace postbox

// Registers this node in `nodes` and refreshes heartbeat_at, so peers and
// `postbox nodes` can tell it is alive. One row per node, not per task.
#include <unistd.h>

#include <caf/all.hpp>

#include "actors/runtime/actors.hpp"
#include "actors/runtime/atoms.hpp"
#include "actors/runtime/log.hpp"
#include "persistence/node_registry_store.hpp"

namespace postbox {

namespace {

struct heartbeat_state {
  static inline const char* name = "postbox.heartbeat";
  std::unique_ptr<pg_session> session;
  node_registration me;
  bool failing = false;
};

caf::behavior heartbeat(caf::stateful_actor<heartbeat_state>* self, runtime_ptr rt) {
  auto& st = self->state;
  st.session = std::make_unique<pg_session>(rt->session("postbox-heartbeat"));
  const auto& node = rt->node();
  st.me.name = rt->node_name;
  st.me.host = node.host;
  st.me.control_port = node.control_port;
  st.me.http_port = node.http_port;
  for (const auto& a : node.actors) st.me.roles.push_back(a.role);
  st.me.pid = static_cast<int32_t>(::getpid());
  st.me.incarnation = rt->incarnation;
  self->send(self, tick_atom::value);
  return {
      [=](tick_atom) {
        auto& s = self->state;
        node_registry_store nodes{*s.session};
        auto err = nodes.heartbeat(s.me);
        if (err && !s.failing) log_line(rt->node_name, "heartbeat failed: " + describe(err));
        s.failing = static_cast<bool>(err);
        self->delayed_send(self, rt->heartbeat_interval, tick_atom::value);
      },
  };
}

}  // namespace

caf::actor spawn_heartbeat(caf::actor_system& sys, runtime_ptr rt) {
  return sys.spawn<caf::detached>(heartbeat, std::move(rt));
}

}  // namespace postbox

// Wakes consumers on NOTIFY (sent by the mailbox's insert trigger). Polling is
// the fallback: if the LISTEN connection dies, consumers still poll, and this
// actor reconnects with backoff.
#include <caf/all.hpp>

#include "actors/runtime/actors.hpp"
#include "actors/runtime/atoms.hpp"
#include "actors/runtime/log.hpp"
#include "persistence/notification_listener.hpp"

namespace postbox {

namespace {

using namespace std::chrono_literals;

struct listener_state {
  static inline const char* name = "postbox.listener";
  std::unique_ptr<notification_listener> listener;
  std::vector<caf::actor> targets;
  std::chrono::milliseconds backoff{0};
  uint64_t connects = 0;  // the listener's count when last seen
};

caf::behavior listener(caf::stateful_actor<listener_state>* self, runtime_ptr rt,
                       std::vector<caf::actor> targets) {
  self->state.listener = std::make_unique<notification_listener>(rt->dsn);
  self->state.targets = std::move(targets);
  self->send(self, tick_atom::value);
  return {
      [=](tick_atom) {
        auto& st = self->state;
        auto got = st.listener->wait(rt->listen_wait);
        if (!got) {
          st.backoff = std::min<std::chrono::milliseconds>(std::max(st.backoff * 2, 200ms), 5s);
          log_line(rt->node_name, "listener: " + describe(got.error()) + "; polling meanwhile");
          self->delayed_send(self, st.backoff, tick_atom::value);
          return;
        }
        st.backoff = 0ms;
        // Freshly listening (first connect or after an outage): a message sent
        // before LISTEN took hold woke nobody, so every consumer looks now
        // instead of at its next poll, which may be many seconds away.
        if (st.listener->connects() != st.connects) {
          st.connects = st.listener->connects();
          for (auto& t : st.targets) self->send(t, wake_atom::value);
        }
        for (const auto& queue : *got)
          for (auto& t : st.targets) self->send(t, wake_atom::value, queue);
        // One wait per message keeps exit messages flowing between waits.
        self->send(self, tick_atom::value);
      },
      [=](consumers_atom, const std::vector<caf::actor>& consumers) {
        self->state.targets = consumers;  // a consumer was restarted (a new handle) or is down
      },
  };
}

}  // namespace

caf::actor spawn_listener(caf::actor_system& sys, runtime_ptr rt, std::vector<caf::actor> targets) {
  return sys.spawn<caf::detached>(listener, std::move(rt), std::move(targets));
}

}  // namespace postbox

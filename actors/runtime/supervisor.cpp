// The node supervisor: spawns the consumers and maintenance actors the topology
// gives this node, monitors them, restarts a crashed one with exponential
// backoff, and on drain tells consumers to finish what they hold, then quits.
// A crash never loses a message: nothing is acked that was not done.
#include "actors/runtime/supervisor.hpp"

#include <caf/all.hpp>

#include "actors/runtime/actors.hpp"
#include "actors/runtime/atoms.hpp"
#include "actors/runtime/log.hpp"
#include "actors/runtime/quiet_handlers.hpp"

namespace postbox {

namespace {

using namespace std::chrono_literals;

struct child {
  child_spec spec;
  caf::actor handle;
  int crashes = 0;
};

struct supervisor_state {
  static inline const char* name = "postbox.supervisor";
  std::string label;
  std::vector<child> children;
  bool draining = false;
};

using supervisor_actor = caf::stateful_actor<supervisor_state>;

std::vector<caf::actor> live_consumers(const supervisor_state& st) {
  std::vector<caf::actor> out;
  for (const auto& c : st.children)
    if (c.spec.consumer && c.handle) out.push_back(c.handle);
  return out;
}

/// Tells the listener and the probe (children given the consumers' handles when they
/// started) which consumers live now: one that was restarted has a new handle.
void update_listener(supervisor_actor* self) {
  for (const auto& c : self->state.children)
    if (!c.spec.consumer && (c.spec.name == "listener" || c.spec.name == "probe") && c.handle)
      self->send(c.handle, consumers_atom::value, live_consumers(self->state));
}

void start_child(supervisor_actor* self, size_t i) {
  auto& c = self->state.children[i];
  c.handle = c.spec.start(self->system(), live_consumers(self->state));
  self->monitor(c.handle);
  if (c.spec.consumer) update_listener(self);
}

bool all_down(const supervisor_state& st) {
  for (const auto& c : st.children)
    if (c.handle) return false;
  return true;
}

caf::behavior supervisor(supervisor_actor* self, std::string label, std::vector<child_spec> specs) {
  auto& st = self->state;
  st.label = std::move(label);
  for (auto& s : specs) st.children.push_back({std::move(s), nullptr, 0});
  for (size_t i = 0; i < st.children.size(); ++i) start_child(self, i);
  install_quiet_handlers(self, st.label);
  self->set_down_handler([=](caf::down_msg& dm) {
    auto& s = self->state;
    for (size_t i = 0; i < s.children.size(); ++i) {
      auto& c = s.children[i];
      if (!c.handle || c.handle.address() != dm.source) continue;
      c.handle = nullptr;
      if (s.draining) {
        if (all_down(s)) {
          log_line(s.label, "supervisor: all children stopped");
          self->quit();
        }
        return;
      }
      auto delay = restart_delay(c.crashes++);
      log_line(s.label, "supervisor: " + c.spec.name + " stopped (" +
                            self->system().render(dm.reason) + "), restart in " +
                            std::to_string(delay.count()) + "ms");
      self->delayed_send(self, delay, respawn_atom::value, static_cast<int32_t>(i));
      // The listener hears of it now, and of the new handle when it is back (it used
      // to be killed and restarted instead, and when it came back before the
      // consumer, it never learned the new handle).
      if (c.spec.consumer) update_listener(self);
      return;
    }
  });
  return {
      [=](respawn_atom, int32_t i) {
        auto& s = self->state;
        if (s.draining || i < 0 || static_cast<size_t>(i) >= s.children.size()) return;
        if (!s.children[i].handle) start_child(self, i);
      },
      [=](pause_atom a, const std::string& queue) {
        for (auto& c : self->state.children)
          if (c.spec.consumer && c.handle) self->send(c.handle, a, queue);
      },
      [=](resume_atom a, const std::string& queue) {
        for (auto& c : self->state.children)
          if (c.spec.consumer && c.handle) self->send(c.handle, a, queue);
      },
      [=](drain_atom) {
        auto& s = self->state;
        if (s.draining) return;
        s.draining = true;
        log_line(s.label, "draining: stop claiming, finish what is in hand");
        for (auto& c : s.children) {
          if (!c.handle) continue;
          if (c.spec.consumer)
            self->send(c.handle, drain_atom::value);
          else
            self->send_exit(c.handle, caf::exit_reason::user_shutdown);
        }
        if (all_down(s)) self->quit();
      },
  };
}

}  // namespace

std::chrono::milliseconds restart_delay(int crashes) {
  return std::min<std::chrono::milliseconds>(200ms * (1 << std::min(std::max(crashes, 0), 6)), 10s);
}

caf::actor spawn_supervisor_of(caf::actor_system& sys, std::string name,
                               std::vector<child_spec> children) {
  return sys.spawn(supervisor, std::move(name), std::move(children));
}

caf::actor spawn_supervisor(caf::actor_system& sys, runtime_ptr rt) {
  std::vector<child_spec> specs;
  bool any_consumer = false;
  for (const auto& a : rt->node().actors) {
    if (!a.queue.empty()) {  // a pipeline role or a generic { queue: NAME } consumer
      any_consumer = true;
      specs.push_back({"consumer " + a.queue, true,
                       [rt, a](caf::actor_system& s, const std::vector<caf::actor>&) {
                         return spawn_consumer(s, rt, a);
                       }});
    } else if (a.role == "outbox") {
      specs.push_back({"outbox", false, [rt](caf::actor_system& s, const std::vector<caf::actor>&) {
                         return spawn_outbox(s, rt);
                       }});
    } else if (a.role == "reaper") {
      specs.push_back({"reaper", false, [rt](caf::actor_system& s, const std::vector<caf::actor>&) {
                         return spawn_reaper(s, rt);
                       }});
    }
  }
  if (auto queues = reminder_queues(*rt); !queues.empty())
    specs.push_back(
        {"reminders", false, [rt, queues](caf::actor_system& s, const std::vector<caf::actor>&) {
           return spawn_reminder_firer(s, rt, queues);
         }});
  // Every node fires schedules (no leader): the topology's and those made in SQL.
  specs.push_back({"schedules", false, [rt](caf::actor_system& s, const std::vector<caf::actor>&) {
                     return spawn_schedule_firer(s, rt);
                   }});
  specs.push_back({"heartbeat", false, [rt](caf::actor_system& s, const std::vector<caf::actor>&) {
                     return spawn_heartbeat(s, rt);
                   }});
  // Last, so they start with every consumer's handle. The probe is the consumers' idle
  // poll (they do not poll on their own); the listener wakes them at once on a send. Not
  // behind a transaction
  // pooler: LISTEN does not work there, consumers poll.
  if (any_consumer)
    specs.push_back(
        {"probe", false, [rt](caf::actor_system& s, const std::vector<caf::actor>& consumers) {
           return spawn_ready_probe(s, rt, consumers);
         }});
  if (any_consumer && rt->topo.database.pooler != "transaction")
    specs.push_back(
        {"listener", false, [rt](caf::actor_system& s, const std::vector<caf::actor>& consumers) {
           return spawn_listener(s, rt, consumers);
         }});
  return spawn_supervisor_of(sys, rt->node_name, std::move(specs));
}

}  // namespace postbox

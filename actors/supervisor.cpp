// The node supervisor: spawns the consumers and maintenance actors the topology
// gives this node, monitors them, restarts a crashed one with exponential
// backoff, and on drain tells consumers to finish what they hold, then quits.
// A crash never loses a message: nothing is acked that was not done.
#include <caf/all.hpp>
#include <functional>

#include "actors/actors.hpp"
#include "actors/atoms.hpp"
#include "actors/log.hpp"

namespace postbox {

namespace {

using namespace std::chrono_literals;

struct child {
  std::string name;
  bool consumer = false;
  std::function<caf::actor()> start;
  caf::actor handle;
  int restarts = 0;
};

struct supervisor_state {
  static inline const char* name = "postbox.supervisor";
  runtime_ptr rt;
  std::vector<child> children;
  bool draining = false;
};

using supervisor_actor = caf::stateful_actor<supervisor_state>;

void start_child(supervisor_actor* self, size_t i) {
  auto& c = self->state.children[i];
  c.handle = c.start();
  self->monitor(c.handle);
}

bool all_down(const supervisor_state& st) {
  for (const auto& c : st.children)
    if (c.handle) return false;
  return true;
}

caf::behavior supervisor(supervisor_actor* self, runtime_ptr rt) {
  auto& st = self->state;
  st.rt = rt;
  auto& sys = self->system();
  std::vector<size_t> consumers;
  for (const auto& a : rt->node().actors) {
    if (a.role == "orchestrator" || a.role == "file_batch" || a.role == "callback") {
      st.children.push_back({"consumer " + a.queue, true,
                             [&sys, rt, a] { return spawn_consumer(sys, rt, a); }, nullptr, 0});
      consumers.push_back(st.children.size() - 1);
    } else if (a.role == "outbox") {
      st.children.push_back(
          {"outbox", false, [&sys, rt] { return spawn_outbox(sys, rt); }, nullptr, 0});
    } else if (a.role == "reaper") {
      st.children.push_back(
          {"reaper", false, [&sys, rt] { return spawn_reaper(sys, rt); }, nullptr, 0});
    }
  }
  st.children.push_back(
      {"heartbeat", false, [&sys, rt] { return spawn_heartbeat(sys, rt); }, nullptr, 0});
  for (size_t i = 0; i < st.children.size(); ++i) start_child(self, i);
  if (!consumers.empty()) {
    // The listener wakes the consumers; it is restarted like any child.
    st.children.push_back({"listener", false,
                           [self, &sys, rt] {
                             std::vector<caf::actor> targets;
                             for (auto& c : self->state.children)
                               if (c.consumer && c.handle) targets.push_back(c.handle);
                             return spawn_listener(sys, rt, targets);
                           },
                           nullptr, 0});
    start_child(self, st.children.size() - 1);
  }
  self->set_down_handler([=](caf::down_msg& dm) {
    auto& s = self->state;
    for (size_t i = 0; i < s.children.size(); ++i) {
      auto& c = s.children[i];
      if (!c.handle || c.handle.address() != dm.source) continue;
      c.handle = nullptr;
      if (s.draining) {
        if (all_down(s)) {
          log_line(s.rt->node_name, "supervisor: all children stopped");
          self->quit();
        }
        return;
      }
      auto delay = std::min<std::chrono::milliseconds>(200ms * (1 << std::min(c.restarts, 6)), 10s);
      ++c.restarts;
      log_line(s.rt->node_name, "supervisor: " + c.name + " stopped (" +
                                    self->system().render(dm.reason) + "), restart in " +
                                    std::to_string(delay.count()) + "ms");
      self->delayed_send(self, delay, respawn_atom::value, static_cast<int32_t>(i));
      // A restarted consumer needs the listener to know its new handle.
      if (c.consumer)
        for (auto& l : s.children)
          if (l.name == "listener" && l.handle) self->send_exit(l.handle, caf::exit_reason::kill);
      return;
    }
  });
  return {
      [=](respawn_atom, int32_t i) {
        auto& s = self->state;
        if (s.draining || i < 0 || static_cast<size_t>(i) >= s.children.size()) return;
        if (!s.children[i].handle) start_child(self, i);
      },
      [=](drain_atom) {
        auto& s = self->state;
        if (s.draining) return;
        s.draining = true;
        log_line(s.rt->node_name, "draining: stop claiming, finish what is in hand");
        for (auto& c : s.children) {
          if (!c.handle) continue;
          if (c.consumer)
            self->send(c.handle, drain_atom::value);
          else
            self->send_exit(c.handle, caf::exit_reason::user_shutdown);
        }
        if (all_down(s)) self->quit();
      },
  };
}

}  // namespace

caf::actor spawn_supervisor(caf::actor_system& sys, runtime_ptr rt) {
  return sys.spawn(supervisor, std::move(rt));
}

}  // namespace postbox

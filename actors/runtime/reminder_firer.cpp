// Fires the due reminders and timers of the queues this node consumes that serve
// keyed actor types: every fire_interval, postbox.fire_due per queue (any node, no
// leader: due rows are locked SKIP LOCKED and each commits with its message). A
// timer of its own, not the consumers' poll: it fires while every worker is busy.
#include <caf/all.hpp>
#include <set>

#include "actors/runtime/actors.hpp"
#include "actors/runtime/atoms.hpp"
#include "actors/runtime/log.hpp"
#include "persistence/reminder_store.hpp"

namespace postbox {

namespace {

constexpr auto fire_interval = std::chrono::milliseconds(200);
constexpr int32_t fire_batch = 500;

struct firer_state {
  static inline const char* name = "postbox.reminders";
  std::unique_ptr<pg_session> session;
  std::vector<std::string> queues;
  bool failing = false;
};

caf::behavior reminder_firer(caf::stateful_actor<firer_state>* self, runtime_ptr rt,
                             std::vector<std::string> queues) {
  auto& st = self->state;
  st.session = std::make_unique<pg_session>(rt->session("postbox-reminders"));
  st.queues = std::move(queues);
  self->send(self, tick_atom::value);
  return {
      [=](tick_atom) {
        auto& s = self->state;
        reminder_store reminders{*s.session};
        bool more = false;
        caf::error failed;
        for (const auto& q : s.queues) {
          auto sent = reminders.fire_due(q, fire_batch);
          if (!sent) {
            failed = sent.error();
            continue;
          }
          more = more || *sent >= fire_batch;
        }
        if (failed && !s.failing)
          log_line(rt->node_name, "firing reminders failed: " + describe(failed));
        s.failing = static_cast<bool>(failed);
        if (more)
          self->send(self, tick_atom::value);
        else
          self->delayed_send(self, fire_interval, tick_atom::value);
      },
  };
}

}  // namespace

std::vector<std::string> reminder_queues(const runtime_config& rt) {
  std::set<std::string> served;
  for (const auto& a : rt.node().actors)
    if (!a.queue.empty()) served.insert(a.queue);
  std::set<std::string> out;
  for (const auto& [type, queue] : rt.handlers.actor_types())
    if (served.count(queue)) out.insert(queue);
  return {out.begin(), out.end()};
}

caf::actor spawn_reminder_firer(caf::actor_system& sys, runtime_ptr rt,
                                std::vector<std::string> queues) {
  return sys.spawn<caf::detached>(reminder_firer, std::move(rt), std::move(queues));
}

}  // namespace postbox

// The ready probe (issue 24 item 6): a node's one idle poll for all its queues. Every
// interval (the shortest poll_interval of the node's queues) one statement asks which of
// them have work a claim could take now (mailbox_ready_queues.sql), and the consumers of
// those queues are woken; an idle consumer does not poll on its own. NOTIFY (the listener)
// still wakes a consumer at once on a send; the probe finds the rest: delayed messages that
// came due, expired leases, throttled messages whose token came, woken actor keys, a
// NOTIFY lost while the listener reconnected. A failed probe is retried with backoff and
// logged once until it works again.
#include <algorithm>
#include <caf/all.hpp>

#include "actors/runtime/actors.hpp"
#include "actors/runtime/atoms.hpp"
#include "actors/runtime/log.hpp"
#include "persistence/mailbox_store.hpp"

namespace postbox {

namespace {

using namespace std::chrono_literals;

struct probe_state {
  static inline const char* name = "postbox.probe";
  std::unique_ptr<pg_session> session;
  std::vector<std::string> queues;
  std::vector<caf::actor> targets;
  std::chrono::milliseconds interval{1000};
  std::chrono::milliseconds backoff{0};
  bool failing = false;
};

caf::behavior ready_probe(caf::stateful_actor<probe_state>* self, runtime_ptr rt,
                          std::vector<caf::actor> targets) {
  auto& st = self->state;
  st.session = std::make_unique<pg_session>(rt->session("postbox-probe"));
  st.targets = std::move(targets);
  st.queues = probed_queues(*rt);
  st.interval = probe_interval(*rt);
  self->delayed_send(self, st.interval, tick_atom::value);
  return {
      [=](tick_atom) {
        auto& s = self->state;
        mailbox_store mailbox{*s.session};
        auto ready = mailbox.ready_queues(s.queues);
        if (!ready) {
          s.backoff = std::min<std::chrono::milliseconds>(std::max(s.backoff * 2, s.interval), 5s);
          if (!s.failing)
            log_line(rt->node_name, "ready probe failed (retrying): " + describe(ready.error()));
          s.failing = true;
          self->delayed_send(self, s.backoff, tick_atom::value);
          return;
        }
        if (s.failing) log_line(rt->node_name, "ready probe works again");
        s.failing = false;
        s.backoff = 0ms;
        // One message per consumer naming every ready queue (shared, not copied): each
        // consumer looks for its own.
        if (!ready->empty()) {
          std::sort(ready->begin(), ready->end());
          auto msg = caf::make_message(wake_atom::value, std::move(*ready));
          for (auto& t : s.targets) self->send(t, msg);
        }
        self->delayed_send(self, s.interval, tick_atom::value);
      },
      [=](consumers_atom, const std::vector<caf::actor>& consumers) {
        self->state.targets = consumers;  // a consumer was restarted (a new handle) or is down
      },
  };
}

}  // namespace

std::vector<std::string> probed_queues(const runtime_config& rt) {
  std::vector<std::string> out;
  for (const auto& a : rt.node().actors)
    if (!a.queue.empty()) out.push_back(a.queue);
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
}

std::chrono::milliseconds probe_interval(const runtime_config& rt) {
  std::chrono::milliseconds shortest{0};
  for (const auto& q : probed_queues(rt)) {
    auto p = rt.topo.queue(q).poll_interval;
    if (shortest.count() == 0 || p < shortest) shortest = p;
  }
  return shortest.count() > 0 ? shortest : std::chrono::milliseconds(1000);
}

caf::actor spawn_ready_probe(caf::actor_system& sys, runtime_ptr rt,
                             std::vector<caf::actor> targets) {
  return sys.spawn<caf::detached>(ready_probe, std::move(rt), std::move(targets));
}

}  // namespace postbox

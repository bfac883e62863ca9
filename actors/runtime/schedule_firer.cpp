// Fires the cluster's cron schedules (guarantee 12): every node runs one, no leader.
// At start it declares the topology's schedules (next_tick kept unless cron or zone
// changed), then keeps them marked seen while it runs, and fires what is due, one schedule
// per transaction (persistence/schedule_store.hpp), then sleeps until the next is due.
#include <algorithm>
#include <caf/all.hpp>

#include "actors/runtime/actors.hpp"
#include "actors/runtime/atoms.hpp"
#include "actors/runtime/log.hpp"
#include "persistence/schedule_store.hpp"

namespace postbox {

namespace {

/// With nothing due, the firer sleeps until the next schedule is (by the database's
/// clock), at least min_sleep and at most max_sleep: a schedule made in SQL meanwhile, or a
/// trigger, fires within max_sleep. An idle node looks once a second, not five times.
constexpr auto min_sleep = std::chrono::milliseconds(5);
constexpr auto max_sleep = std::chrono::milliseconds(1000);
constexpr int fire_batch = 100;  // schedules fired before yielding to the mailbox
constexpr auto seen_interval = std::chrono::seconds(5);
constexpr auto prune_interval = std::chrono::minutes(1);
constexpr int64_t keep_ticks_ms = 7 * 24 * 3600 * 1000LL;

struct firer_state {
  static inline const char* name = "postbox.schedules";
  std::unique_ptr<pg_session> session;
  std::vector<schedule_definition> defs;
  std::vector<std::string> names;
  bool declared = false;
  std::chrono::steady_clock::time_point seen{};
  std::chrono::steady_clock::time_point pruned{};
  bool failing = false;
};

caf::behavior schedule_firer(caf::stateful_actor<firer_state>* self, runtime_ptr rt) {
  auto& st = self->state;
  st.session = std::make_unique<pg_session>(rt->session("postbox-schedules"));
  st.defs = schedule_definitions(rt->topo);
  for (const auto& d : st.defs) st.names.push_back(d.name);
  self->send(self, tick_atom::value);
  return {
      [=](tick_atom) {
        auto& s = self->state;
        schedule_store store{*s.session};
        auto now = std::chrono::steady_clock::now();
        caf::error failed;
        if (!s.declared) {
          failed = store.declare(s.defs);
          if (!failed) {
            s.declared = true;
            s.seen = now;
          }
        } else if (now - s.seen >= seen_interval) {
          failed = store.mark_seen(s.names);
          if (!failed) s.seen = now;
        }
        if (!failed && now - s.pruned >= prune_interval) {
          auto pruned = store.prune_ticks(keep_ticks_ms, 10000);
          if (pruned) s.pruned = now;
        }
        bool more = false;
        auto sleep = max_sleep;
        for (int i = 0; !failed && i < fire_batch; ++i) {
          auto fired = store.fire_one(schedule_stale_ms);
          if (!fired) {
            failed = fired.error();
            break;
          }
          if (!fired->found) {
            if (fired->next_due_ms)
              sleep = std::clamp<std::chrono::milliseconds>(
                  std::chrono::milliseconds(*fired->next_due_ms), min_sleep, max_sleep);
            break;
          }
          more = i + 1 == fire_batch;
        }
        if (failed && !s.failing)
          log_line(rt->node_name, "firing schedules failed: " + describe(failed));
        s.failing = static_cast<bool>(failed);
        if (more)
          self->send(self, tick_atom::value);
        else
          self->delayed_send(self, failed ? max_sleep : sleep, tick_atom::value);
      },
  };
}

}  // namespace

std::vector<schedule_definition> schedule_definitions(const topology& topo) {
  std::vector<schedule_definition> out;
  for (const auto& [name, c] : topo.schedules) {
    schedule_definition d;
    d.name = name;
    d.cron = c.cron;
    d.timezone = c.timezone;
    d.target = c.send;
    d.on_missed = c.on_missed;
    d.overlap = c.overlap;
    d.catch_up_window_ms = c.catch_up_window.count();
    out.push_back(std::move(d));
  }
  return out;
}

caf::actor spawn_schedule_firer(caf::actor_system& sys, runtime_ptr rt) {
  return sys.spawn<caf::detached>(schedule_firer, std::move(rt));
}

}  // namespace postbox

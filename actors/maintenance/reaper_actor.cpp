// The reaper as an actor: one sweep per interval; resigns its lease on shutdown.
#include <caf/all.hpp>

#include "actors/maintenance/reaper.hpp"
#include "actors/runtime/actors.hpp"
#include "actors/runtime/atoms.hpp"
#include "actors/runtime/log.hpp"

namespace postbox {

namespace {

struct reaper_state {
  static inline const char* name = "postbox.reaper";
  std::unique_ptr<pg_session> session;
  std::unique_ptr<reaper> sweeper;
  bool leading = false;
};

caf::behavior reaper_actor(caf::stateful_actor<reaper_state>* self, runtime_ptr rt) {
  auto& st = self->state;
  st.session = std::make_unique<pg_session>(rt->session("postbox-reaper"));
  reaper_settings s;
  s.interval = rt->topo.reaper.interval;
  s.stuck_after = rt->topo.reaper.stuck_after;
  s.tombstone_retention = rt->topo.reaper.tombstone_retention;
  s.reply_retention = rt->topo.reaper.reply_retention;
  s.completed_retention = rt->topo.retention.completed;
  s.failed_retention = rt->topo.retention.failed;
  s.dead_letter_retention = rt->topo.retention.dead_letters;
  s.outbox_retention = rt->topo.retention.outbox_delivered;
  s.prune_batch = rt->topo.retention.batch;
  s.idle_actor_retention = rt->topo.retention.idle_actors;
  s.aging_after = rt->topo.priorities.aging_after;
  st.sweeper = std::make_unique<reaper>(*st.session, s, rt->node_name);
  // Resign while the state still exists (attach_functor runs after it is gone),
  // so another node takes the lease at once instead of after its TTL.
  self->set_exit_handler([self](caf::exit_msg& em) {
    if (self->state.leading) self->state.sweeper->resign();
    self->quit(em.reason);
  });
  self->send(self, tick_atom::value);
  return {
      [=](tick_atom) {
        auto& s2 = self->state;
        auto r = s2.sweeper->run_once();
        if (!r) {
          rt->metrics->reaper_ran("error", reaper_counts{}.rows_by_kind());
          log_line(rt->node_name, "reaper: " + describe(r.error()));
        } else {
          rt->metrics->reaper_ran(r->leader ? "swept" : "standby", r->rows_by_kind());
          if (r->leader != s2.leading)
            log_line(rt->node_name, r->leader
                                        ? "reaper: leading (term " + std::to_string(r->term) + ")"
                                        : "reaper: no longer leading");
          s2.leading = r->leader;
          if (r->rows_pruned > 0)
            log_line(rt->node_name, "reaper: pruned " + std::to_string(r->rows_pruned) +
                                        " row(s) past retention (" +
                                        std::to_string(r->executions_pruned) +
                                        " execution(s)) in " + std::to_string(r->prune_statements) +
                                        " statement(s)");
          if (r->stranded_failed + r->claims_released + r->members_arrived > 0)
            log_line(rt->node_name,
                     "reaper: " + std::to_string(r->stranded_failed) +
                         " stranded execution(s) failed, " + std::to_string(r->claims_released) +
                         " claim(s) released, " + std::to_string(r->members_arrived) +
                         " lost group member(s) arrived as failed");
        }
        self->delayed_send(self, rt->topo.reaper.interval, tick_atom::value);
      },
  };
}

}  // namespace

caf::actor spawn_reaper(caf::actor_system& sys, runtime_ptr rt) {
  return sys.spawn<caf::detached>(reaper_actor, std::move(rt));
}

}  // namespace postbox

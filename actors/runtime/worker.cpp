// A worker: runs handle_delivery for each delivery its consumer sends, and
// answers (done_atom, index, id). Detached: handlers block on processors and
// the database. The consumer's PostgreSQL backend lives here too.
#include <caf/all.hpp>

#include "actors/runtime/actors.hpp"
#include "actors/runtime/atoms.hpp"
#include "actors/runtime/consumer.hpp"
#include "actors/runtime/continuations.hpp"
#include "actors/runtime/dispatch.hpp"
#include "actors/runtime/log.hpp"
#include "actors/runtime/program_handler.hpp"
#include "actors/runtime/promotion_pacer.hpp"
#include "actors/runtime/quiet_handlers.hpp"
#include "persistence/actor_store.hpp"

CAF_ALLOW_UNSAFE_MESSAGE_TYPE(postbox::delivery)

namespace postbox {

namespace {

/// How often an external program's worker looks after its idle process.
constexpr auto program_tend_interval = std::chrono::seconds(1);

struct worker_state {
  static inline const char* name = "postbox.worker";
  std::unique_ptr<pg_session> session;
  std::unique_ptr<handler_context> ctx;
};

/// The outcome as /metrics counts it: retry_later split into a charged failure
/// and an uncharged give-back.
std::string metrics_outcome(const handler_result& r) {
  if (r.what == handled::retry_later) return r.charged ? "failed" : "given_back";
  return to_string(r.what);
}

caf::behavior worker(caf::stateful_actor<worker_state>* self, runtime_ptr rt, std::string owner,
                     int index, std::string program) {
  install_quiet_handlers(self, owner);
  self->state.session = std::make_unique<pg_session>(rt->session("postbox-" + owner));
  self->state.ctx =
      std::make_unique<handler_context>(*self->state.session, rt->topo, rt->handlers, owner);
  self->state.ctx->actor_cache = rt->actor_cache;
  self->state.ctx->committer = rt->committer.get();
  // A worker of an external program starts its process now, not on the first message,
  // and tends it while idle (stderr logged, a death noticed and restarted).
  const program_config* prog = program.empty() ? nullptr : rt->topo.program(program);
  if (prog) {
    tend_program(*self->state.ctx, *prog);
    self->delayed_send(self, program_tend_interval, tick_atom::value);
  }
  return {
      [=](tick_atom) {
        if (!prog) return;  // only a program's worker ticks
        tend_program(*self->state.ctx, *prog);
        self->delayed_send(self, program_tend_interval, tick_atom::value);
      },
      [=](const delivery& d) -> caf::message {
        const auto started = std::chrono::steady_clock::now();
        auto r = handle_delivery(*self->state.ctx, d);
        rt->metrics->handler_duration(d.queue, std::chrono::steady_clock::now() - started);
        rt->metrics->handled(d.queue, metrics_outcome(r));
        if (r.what == handled::acked && !d.actor_key.empty()) rt->metrics->turn(d.actor_type);
        if (r.duplicates > 0) rt->metrics->dedup_duplicates(d.queue, r.duplicates);
        if (r.what != handled::acked)
          log_line(self->state.ctx->owner, "message " + std::to_string(d.id) + " (" + d.type +
                                               "): " + to_string(r.what) + ": " + r.detail);
        // The reply goes to the consumer that sent the delivery.
        return caf::make_message(done_atom::value, static_cast<int32_t>(index), d.id);
      },
  };
}

std::vector<std::string> node_names(const topology& t) {
  std::vector<std::string> out;
  for (const auto& n : t.nodes) out.push_back(n.first);
  return out;
}

/// The consumer's backend on PostgreSQL: the mailbox store and the poison unit of work,
/// each operation on a session borrowed from the node's consumer pool (database.pool of
/// them), so a node's consumers hold that many connections however many queues it serves.
class pg_consumer_backend : public consumer_backend {
 public:
  pg_consumer_backend(runtime_ptr rt, std::string queue, std::string owner)
      : rt_(std::move(rt)),
        queue_(std::move(queue)),
        owner_(std::move(owner)),
        qc_(rt_->topo.queue(queue_)),
        types_(rt_->handlers.types_for(queue_)) {
    for (const auto& [type, queue] : rt_->handlers.actor_types())
      if (queue == queue_) serves_actors_ = true;
  }

  caf::expected<std::vector<delivery>> claim(int max) override {
    auto session = rt_->consumer_pool->borrow();
    // Only this node's types: another node's are left for it. Every 5 s a few more
    // slots go to types no node of the topology serves here (the sweep scans other
    // types' backlog), so they are dead-lettered naming the type, backlog or not.
    auto now = std::chrono::steady_clock::now();
    const bool sweep = now >= next_sweep_;
    if (sweep) next_sweep_ = now + std::chrono::seconds(5);
    // Keyed actors: keys that a send woke and that have no head get one first (a head's
    // ack promotes the next message itself; this catches a send that committed while
    // that ack was committing). Never waits on a lock. Where this node serves actor
    // types: before each claim, but while claims come back full at most every 100 ms
    // (promotion_pacer.hpp); elsewhere at most once a second (a type may live on a queue
    // this registry does not know; the ready probe wakes an idle consumer for a woken
    // key). A failure is logged and the claim goes on.
    if (serves_actors_ ? pacer_.due(now) : now >= next_promote_) {
      next_promote_ = now + std::chrono::seconds(1);
      actor_store actors{*session};
      if (auto made = actors.promote(queue_, promote_batch); !made)
        log_line(owner_, "promoting actor heads on '" + queue_ +
                             "' failed (claiming anyway): " + describe(made.error()));
      else
        pacer_.promoted(now);
    }
    mailbox_store mailbox{*session};
    auto got = mailbox.read(queue_, max, qc_.visibility_timeout, owner_, rt_->incarnation, &types_,
                            sweep ? &sweep_ : nullptr, rt_->node_alive_within(),
                            rt_->topo.claims_limited(queue_));
    if (got) pacer_.claimed(static_cast<int>(got->size()), max);
    return got;
  }
  caf::error renew(const lease& l) override {
    auto session = rt_->consumer_pool->borrow();
    return mailbox_store{*session}.renew_lease(l, qc_.visibility_timeout);
  }
  caf::expected<std::vector<int64_t>> renew_all(const std::vector<lease>& ls) override {
    auto session = rt_->consumer_pool->borrow();
    return mailbox_store{*session}.renew_leases(ls, qc_.visibility_timeout);
  }
  void give_back(const delivery& d, const std::string& why) override {
    auto session = rt_->consumer_pool->borrow();
    // Back at once: a drained node's work is for the other nodes (or its restart).
    (void)mailbox_store{*session}.nack_unless_locked(d.to_lease(), std::chrono::milliseconds(0),
                                                     why);
  }
  bool fail(const delivery& d, const std::string& reason) override {
    auto session = rt_->consumer_pool->borrow();
    auto r = mailbox_store{*session}.fail_unless_locked(d.to_lease(), backoff_delay(d.attempts + 1),
                                                        reason);
    return r || !is(r.error(), errc::transient);
  }
  caf::error mark_running_alone(const delivery& d) override {
    auto session = rt_->consumer_pool->borrow();
    return mailbox_store{*session}.mark_running_alone(d.to_lease(), rt_->incarnation);
  }
  std::string poison(const delivery& d, const std::string& reason) override {
    auto session = rt_->consumer_pool->borrow();
    handler_context ctx(*session, rt_->topo, rt_->handlers, owner_);
    auto r = postbox::poison(ctx, d, reason);
    return to_string(r.what);
  }

 private:
  runtime_ptr rt_;
  std::string queue_;
  std::string owner_;
  queue_config qc_;
  bool serves_actors_ = false;
  promotion_pacer pacer_;
  static constexpr int32_t promote_batch = 500;
  std::vector<std::string> types_;
  orphan_sweep sweep_{node_names(rt_->topo), 4};
  std::chrono::steady_clock::time_point next_sweep_{};
  std::chrono::steady_clock::time_point next_promote_{};
};

}  // namespace

caf::actor spawn_worker(caf::actor_system& sys, runtime_ptr rt, std::string owner, int index,
                        std::string program) {
  return sys.spawn<caf::detached>(worker, std::move(rt), std::move(owner), index,
                                  std::move(program));
}

caf::actor spawn_consumer(caf::actor_system& sys, runtime_ptr rt, actor_config role) {
  consumer_params p;
  p.queue = role.queue;
  p.owner = rt->node_name + "/" + role.queue;
  p.qc = rt->topo.queue(role.queue);
  p.concurrency = role.concurrency;
  p.metrics = rt->metrics;
  p.gate = rt->solo;
  p.drain_timeout = rt->topo.drain_timeout;
  p.idle_poll = false;  // the node's ready probe polls for every queue at once
  p.backend = [rt, queue = p.queue, owner = p.owner] {
    return std::make_unique<pg_consumer_backend>(rt, queue, owner);
  };
  p.spawn_worker = [rt, owner = p.owner, program = role.program](caf::actor_system& s, int i) {
    return spawn_worker(s, rt, owner + "/w" + std::to_string(i), i, program);
  };
  return spawn_consumer_with(sys, std::move(p), true);
}

}  // namespace postbox

// The consumer of one queue: claims up to claim_batch deliveries for its idle
// workers, renews the lease of every delivery in flight about every third of
// the visibility timeout, poisons deliveries past max_attempts, and wakes on
// NOTIFY or its poll timer. It is detached: its database calls block.
#include <caf/all.hpp>
#include <map>

#include "actors/actors.hpp"
#include "actors/atoms.hpp"
#include "actors/handlers.hpp"
#include "actors/log.hpp"
#include "actors/quiet_handlers.hpp"

CAF_ALLOW_UNSAFE_MESSAGE_TYPE(postbox::delivery)

namespace postbox {

namespace {

using namespace std::chrono_literals;

struct in_flight {
  lease held;
  int worker = -1;
  int32_t read_ct = 0;
  bool lost = false;  // renewal found the receipt stale: stop renewing it
};

struct consumer_state {
  static inline const char* name = "postbox.consumer";
  runtime_ptr rt;
  actor_config role;
  queue_config qc;
  std::string owner;
  std::unique_ptr<pg_session> session;
  std::unique_ptr<mailbox_store> mailbox;
  std::unique_ptr<handler_context> ctx;
  std::vector<caf::actor> workers;
  std::vector<bool> busy;
  std::vector<int> restarts;
  std::map<int64_t, in_flight> flights;
  bool draining = false;
  bool paused = false;  // by the control plane: claim nothing, finish what is in flight
  bool poll_pending = false;
  std::chrono::milliseconds error_backoff{0};
};

using consumer_actor = caf::stateful_actor<consumer_state>;

void start_worker(consumer_actor* self, int i) {
  auto& st = self->state;
  auto w = spawn_worker(self->system(), st.rt, st.owner + "/w" + std::to_string(i), i);
  self->monitor(w);
  st.workers[i] = w;
  st.busy[i] = false;
}

int idle_workers(const consumer_state& st) {
  int n = 0;
  for (size_t i = 0; i < st.workers.size(); ++i)
    if (st.workers[i] && !st.busy[i]) ++n;
  return n;
}

void schedule_poll(consumer_actor* self, std::chrono::milliseconds after) {
  if (self->state.poll_pending || self->state.draining) return;
  self->state.poll_pending = true;
  self->delayed_send(self, after, poll_atom::value, true);
}

void finish_if_drained(consumer_actor* self) {
  auto& st = self->state;
  if (!st.draining || !st.flights.empty()) return;
  for (auto& w : st.workers)
    if (w) self->send_exit(w, caf::exit_reason::user_shutdown);
  log_line(st.owner, "drained");
  self->quit();
}

void tick(consumer_actor* self) {
  auto& st = self->state;
  // Renewal runs every third of the visibility timeout even with every worker busy.
  st.rt->metrics->consumer_tick(st.role.queue, st.qc.visibility_timeout + std::chrono::seconds(1));
}

void poll(consumer_actor* self) {
  auto& st = self->state;
  if (st.draining) return;
  tick(self);
  if (st.paused) return;
  int idle = idle_workers(st);
  if (idle == 0) return;  // a done_atom polls again
  int want = std::min(idle, std::max(1, st.qc.claim_batch));
  auto got = st.mailbox->read(st.role.queue, want, st.qc.visibility_timeout, st.owner);
  if (!got) {
    st.rt->metrics->claim_failed(st.role.queue);
    st.error_backoff = std::min<std::chrono::milliseconds>(
        std::max<std::chrono::milliseconds>(st.error_backoff * 2, 100ms), 5s);
    log_line(st.owner, "claim failed (retrying in " + std::to_string(st.error_backoff.count()) +
                           "ms): " + describe(got.error()));
    schedule_poll(self, st.error_backoff);
    return;
  }
  st.error_backoff = 0ms;
  st.rt->metrics->claimed(st.role.queue, got->size());
  for (auto& d : *got) {
    if (d.read_ct > st.qc.max_attempts) {
      auto r = poison(*st.ctx, d, attempts_exhausted_reason(d, st.qc.max_attempts));
      st.rt->metrics->handled(st.role.queue, to_string(r.what));
      log_line(st.owner, "message " + std::to_string(d.id) + " poisoned: " + r.detail);
      continue;
    }
    size_t w = 0;
    while (w < st.workers.size() && (!st.workers[w] || st.busy[w])) ++w;
    st.busy[w] = true;
    st.flights[d.id] = in_flight{d.to_lease(), static_cast<int>(w), d.read_ct, false};
    self->send(st.workers[w], std::move(d));
  }
  if (static_cast<int>(got->size()) == want && idle_workers(st) > 0)
    self->send(self, poll_atom::value, false);
  else
    schedule_poll(self, st.qc.poll_interval);
}

void renew_all(consumer_actor* self) {
  auto& st = self->state;
  for (auto& [id, f] : st.flights) {
    if (f.lost) continue;
    auto err = st.mailbox->renew_lease(f.held, st.qc.visibility_timeout);
    if (is(err, errc::lease_lost)) {
      f.lost = true;
      log_line(st.owner, "lease of message " + std::to_string(id) + " lost");
    } else if (err) {
      log_line(st.owner, "renew of message " + std::to_string(id) + " failed: " + describe(err));
    }
  }
}

caf::behavior consumer(consumer_actor* self, runtime_ptr rt, actor_config role) {
  auto& st = self->state;
  st.rt = rt;
  st.role = role;
  st.qc = rt->topo.queue(role.queue);
  st.owner = rt->node_name + "/" + role.queue;
  st.session = std::make_unique<pg_session>(rt->session("postbox-" + st.owner));
  st.mailbox = std::make_unique<mailbox_store>(*st.session);
  st.ctx = std::make_unique<handler_context>(*st.session, rt->topo, rt->processors, st.owner);
  int n = std::max(1, role.concurrency);
  st.workers.resize(n);
  st.busy.assign(n, false);
  st.restarts.assign(n, 0);
  for (int i = 0; i < n; ++i) start_worker(self, i);
  install_quiet_handlers(self, st.owner);
  self->set_down_handler([=](caf::down_msg& dm) {
    auto& s = self->state;
    for (size_t i = 0; i < s.workers.size(); ++i) {
      if (!s.workers[i] || s.workers[i].address() != dm.source) continue;
      s.workers[i] = nullptr;
      // Its delivery was not acked: give it back now rather than at lease expiry.
      for (auto it = s.flights.begin(); it != s.flights.end(); ++it) {
        if (it->second.worker != static_cast<int>(i)) continue;
        (void)s.mailbox->nack(it->second.held, backoff_delay(it->second.read_ct),
                              "worker crashed: " + self->system().render(dm.reason));
        s.flights.erase(it);
        break;
      }
      if (s.draining) {
        finish_if_drained(self);
        return;
      }
      auto delay =
          std::min<std::chrono::milliseconds>(100ms * (1 << std::min(s.restarts[i], 6)), 5s);
      ++s.restarts[i];
      log_line(s.owner, "worker " + std::to_string(i) + " down (" +
                            self->system().render(dm.reason) + "), restart in " +
                            std::to_string(delay.count()) + "ms");
      self->delayed_send(self, delay, respawn_atom::value, static_cast<int32_t>(i));
      return;
    }
  });
  self->send(self, poll_atom::value, false);
  self->delayed_send(self, st.qc.visibility_timeout / 3, renew_atom::value);
  log_line(st.owner,
           "consuming queue '" + role.queue + "' with " + std::to_string(n) + " worker(s)");
  return {
      [=](poll_atom, bool timer) {
        if (timer) self->state.poll_pending = false;
        poll(self);
      },
      [=](wake_atom, const std::string& queue) {
        if (queue == self->state.role.queue) poll(self);
      },
      [=](renew_atom) {
        tick(self);
        renew_all(self);
        if (!self->state.draining || !self->state.flights.empty())
          self->delayed_send(self, self->state.qc.visibility_timeout / 3, renew_atom::value);
      },
      [=](done_atom, int32_t worker, int64_t message_id) {
        auto& s = self->state;
        s.flights.erase(message_id);
        if (worker >= 0 && static_cast<size_t>(worker) < s.busy.size()) {
          s.busy[worker] = false;
          s.restarts[worker] = 0;
        }
        if (s.draining)
          finish_if_drained(self);
        else
          poll(self);
      },
      [=](respawn_atom, int32_t i) {
        if (self->state.draining) return;
        start_worker(self, i);
        poll(self);
      },
      [=](pause_atom, const std::string& queue) {
        if (queue == self->state.role.queue) self->state.paused = true;
      },
      [=](resume_atom, const std::string& queue) {
        if (queue != self->state.role.queue) return;
        self->state.paused = false;
        poll(self);
      },
      [=](drain_atom) {
        self->state.draining = true;
        log_line(self->state.owner, "draining: " + std::to_string(self->state.flights.size()) +
                                        " delivery(ies) in flight");
        finish_if_drained(self);
      },
  };
}

struct worker_state {
  static inline const char* name = "postbox.worker";
  std::unique_ptr<pg_session> session;
  std::unique_ptr<handler_context> ctx;
};

caf::behavior worker(caf::stateful_actor<worker_state>* self, runtime_ptr rt, std::string owner,
                     int index) {
  install_quiet_handlers(self, owner);
  self->state.session = std::make_unique<pg_session>(rt->session("postbox-" + owner));
  self->state.ctx =
      std::make_unique<handler_context>(*self->state.session, rt->topo, rt->processors, owner);
  return {
      [=](const delivery& d) -> caf::message {
        auto r = handle_delivery(*self->state.ctx, d);
        rt->metrics->handled(d.queue, to_string(r.what));
        if (r.what != handled::acked)
          log_line(self->state.ctx->owner, "message " + std::to_string(d.id) + " (" + d.type +
                                               "): " + to_string(r.what) + ": " + r.detail);
        // The reply goes to the consumer that sent the delivery.
        return caf::make_message(done_atom::value, static_cast<int32_t>(index), d.id);
      },
  };
}

}  // namespace

caf::actor spawn_consumer(caf::actor_system& sys, runtime_ptr rt, actor_config role) {
  return sys.spawn<caf::detached>(consumer, std::move(rt), std::move(role));
}

caf::actor spawn_worker(caf::actor_system& sys, runtime_ptr rt, std::string owner, int index) {
  return sys.spawn<caf::detached>(worker, std::move(rt), std::move(owner), index);
}

}  // namespace postbox

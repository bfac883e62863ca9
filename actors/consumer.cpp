// The consumer of one queue: claims up to claim_batch deliveries for its idle
// workers, renews the lease of every delivery in flight about every third of
// the visibility timeout, poisons deliveries past max_attempts, gives a crashed
// worker's delivery back at once, and wakes on NOTIFY or its poll timer.
#include "actors/consumer.hpp"

#include <caf/all.hpp>
#include <map>

#include "actors/atoms.hpp"
#include "actors/handlers.hpp"
#include "actors/log.hpp"
#include "actors/node_metrics.hpp"
#include "actors/quiet_handlers.hpp"

CAF_ALLOW_UNSAFE_MESSAGE_TYPE(postbox::delivery)

namespace postbox {

namespace {

using namespace std::chrono_literals;

struct in_flight {
  delivery d;
  int worker = -1;
  bool lost = false;  // renewal found the receipt stale: stop renewing it
};

struct consumer_state {
  static inline const char* name = "postbox.consumer";
  consumer_params params;
  std::unique_ptr<consumer_backend> backend;
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
  auto w = st.params.spawn_worker(self->system(), i);
  self->monitor(w);
  self->link_to(w);  // workers end with their consumer (a restarted one spawns fresh ones)
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
  log_line(st.params.owner, "drained");
  self->quit();
}

void tick(consumer_actor* self) {
  auto& st = self->state;
  // Renewal runs every third of the visibility timeout even with every worker busy.
  if (st.params.metrics)
    st.params.metrics->consumer_tick(st.params.queue, st.params.qc.visibility_timeout + 1s);
}

void poll(consumer_actor* self) {
  auto& st = self->state;
  if (st.draining) return;
  tick(self);
  if (st.paused) return;
  int idle = idle_workers(st);
  if (idle == 0) return;  // a done_atom polls again
  int want = std::min(idle, std::max(1, st.params.qc.claim_batch));
  auto got = st.backend->claim(want);
  if (!got) {
    if (st.params.metrics) st.params.metrics->claim_failed(st.params.queue);
    st.error_backoff = std::min<std::chrono::milliseconds>(
        std::max<std::chrono::milliseconds>(st.error_backoff * 2, 100ms), 5s);
    log_line(st.params.owner, "claim failed (retrying in " +
                                  std::to_string(st.error_backoff.count()) +
                                  "ms): " + describe(got.error()));
    schedule_poll(self, st.error_backoff);
    return;
  }
  st.error_backoff = 0ms;
  if (st.params.metrics) st.params.metrics->claimed(st.params.queue, got->size());
  for (auto& d : *got) {
    if (d.read_ct > st.params.qc.max_attempts) {
      auto what = st.backend->poison(d, attempts_exhausted_reason(d, st.params.qc.max_attempts));
      if (st.params.metrics) st.params.metrics->handled(st.params.queue, what);
      log_line(st.params.owner, "message " + std::to_string(d.id) + " poisoned: " + what);
      continue;
    }
    size_t w = 0;
    while (w < st.workers.size() && (!st.workers[w] || st.busy[w])) ++w;
    st.busy[w] = true;
    st.flights[d.id] = in_flight{d, static_cast<int>(w), false};
    self->send(st.workers[w], std::move(d));
  }
  if (static_cast<int>(got->size()) == want && idle_workers(st) > 0)
    self->send(self, poll_atom::value, false);
  else
    schedule_poll(self, st.params.qc.poll_interval);
}

void renew_all(consumer_actor* self) {
  auto& st = self->state;
  for (auto& [id, f] : st.flights) {
    if (f.lost) continue;
    auto err = st.backend->renew(f.d.to_lease());
    if (is(err, errc::lease_lost)) {
      f.lost = true;
      log_line(st.params.owner, "lease of message " + std::to_string(id) + " lost");
    } else if (err) {
      log_line(st.params.owner,
               "renew of message " + std::to_string(id) + " failed: " + describe(err));
    }
  }
}

caf::behavior consumer(consumer_actor* self, consumer_params params) {
  auto& st = self->state;
  st.params = std::move(params);
  st.backend = st.params.backend();
  int n = std::max(1, st.params.concurrency);
  st.workers.resize(n);
  st.busy.assign(n, false);
  st.restarts.assign(n, 0);
  for (int i = 0; i < n; ++i) start_worker(self, i);
  install_quiet_handlers(self, st.params.owner);
  // A worker's exit is handled by the down handler (give back, restart); any
  // other exit request ends the consumer (and, by the links, its workers).
  self->set_exit_handler([=](caf::exit_msg& em) {
    for (auto& w : self->state.workers)
      if (w && w.address() == em.source) return;
    self->quit(em.reason);
  });
  self->set_down_handler([=](caf::down_msg& dm) {
    auto& s = self->state;
    for (size_t i = 0; i < s.workers.size(); ++i) {
      if (!s.workers[i] || s.workers[i].address() != dm.source) continue;
      s.workers[i] = nullptr;
      s.busy[i] = false;
      // Its delivery was not acked: give it back now rather than at lease expiry.
      for (auto it = s.flights.begin(); it != s.flights.end(); ++it) {
        if (it->second.worker != static_cast<int>(i)) continue;
        s.backend->give_back(it->second.d, "worker crashed: " + self->system().render(dm.reason));
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
      log_line(s.params.owner, "worker " + std::to_string(i) + " down (" +
                                   self->system().render(dm.reason) + "), restart in " +
                                   std::to_string(delay.count()) + "ms");
      self->delayed_send(self, delay, respawn_atom::value, static_cast<int32_t>(i));
      return;
    }
  });
  self->send(self, poll_atom::value, false);
  self->delayed_send(self, st.params.qc.visibility_timeout / 3, renew_atom::value);
  log_line(st.params.owner,
           "consuming queue '" + st.params.queue + "' with " + std::to_string(n) + " worker(s)");
  return {
      [=](poll_atom, bool timer) {
        if (timer) self->state.poll_pending = false;
        poll(self);
      },
      [=](wake_atom, const std::string& queue) {
        if (queue == self->state.params.queue) poll(self);
      },
      [=](renew_atom) {
        tick(self);
        renew_all(self);
        if (!self->state.draining || !self->state.flights.empty())
          self->delayed_send(self, self->state.params.qc.visibility_timeout / 3, renew_atom::value);
      },
      [=](done_atom, int32_t worker, int64_t message_id) {
        auto& s = self->state;
        // Only the worker that holds the delivery now: after a re-read (a lease
        // that expired) a stale worker's done must not drop the new holder's flight.
        auto f = s.flights.find(message_id);
        if (f != s.flights.end() && f->second.worker == worker) s.flights.erase(f);
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
        if (queue == self->state.params.queue) self->state.paused = true;
      },
      [=](resume_atom, const std::string& queue) {
        if (queue != self->state.params.queue) return;
        self->state.paused = false;
        poll(self);
      },
      [=](drain_atom) {
        self->state.draining = true;
        log_line(
            self->state.params.owner,
            "draining: " + std::to_string(self->state.flights.size()) + " delivery(ies) in flight");
        finish_if_drained(self);
      },
  };
}

}  // namespace

caf::actor spawn_consumer_with(caf::actor_system& sys, consumer_params params, bool detached) {
  if (detached) return sys.spawn<caf::detached>(consumer, std::move(params));
  return sys.spawn(consumer, std::move(params));
}

}  // namespace postbox

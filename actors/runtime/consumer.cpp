// The consumer of one queue: claims up to claim_batch deliveries for its idle
// workers, renews the lease of every delivery it holds about every third of the
// visibility timeout, poisons deliveries whose charged attempts reached
// max_attempts, runs suspects alone (guarantee 8), fails a handler still
// running after max_handler_time and replaces its worker, charges a crashed
// worker's delivery, and on drain gives back what waits and, after
// drain_timeout, what still runs. Wakes on NOTIFY, on the node's ready probe (or, with
// idle_poll, its own poll timer) and when a worker is done. It never
// waits on a row lock: a fail that finds its row locked is tried again each tick.
#include "actors/runtime/consumer.hpp"

#include <algorithm>
#include <caf/all.hpp>
#include <cmath>
#include <deque>
#include <map>

#include "actors/runtime/atoms.hpp"
#include "actors/runtime/dispatch.hpp"
#include "actors/runtime/log.hpp"
#include "actors/runtime/node_metrics.hpp"
#include "actors/runtime/quiet_handlers.hpp"

CAF_ALLOW_UNSAFE_MESSAGE_TYPE(postbox::delivery)

namespace postbox {

namespace {

using namespace std::chrono_literals;

/// While suspects wait for the node to go quiet, how often the consumer looks again.
constexpr std::chrono::milliseconds gate_recheck{50};

/// Automatic prefetch (queues.Q.prefetch: auto, the default): a consumer claims ahead what
/// its workers will start within this long by their recent handler times, so a prefetched
/// delivery waits at most about this long on this node while another node might be idle.
constexpr double prefetch_horizon_ms = 20.0;

/// A charged failure whose row was locked by another transaction: tried again on
/// every poll and overdue tick until it is done or its lease is lost.
struct unsettled_fail {
  delivery d;
  std::string reason;
};

/// A delivery this consumer holds a lease on.
struct in_flight {
  delivery d;
  int worker = -1;    // -1: claimed, waiting for its turn to run
  bool lost = false;  // renewal found the receipt stale: stop renewing it
};

/// What one worker slot runs. It outlives its flight when the delivery was read
/// again meanwhile (its lease ran out): the thread still runs, so it still holds
/// its place in the gate and its deadline.
struct run {
  bool active = false;
  int64_t id = 0;
  int64_t receipt = 0;
  bool alone = false;  // a suspect running alone: it holds the node's solo turn
  caf::actor_clock::time_point started;
};

struct consumer_state {
  static inline const char* name = "postbox.consumer";
  consumer_params params;
  std::unique_ptr<consumer_backend> backend;
  std::shared_ptr<solo_gate> gate;
  std::vector<caf::actor> workers;
  std::vector<bool> busy;
  std::vector<int> restarts;
  std::vector<run> runs;  // per worker slot
  /// Workers replaced while stuck in a handler; their threads may still come back.
  std::vector<caf::actor> stuck;
  std::map<int64_t, in_flight> flights;
  std::vector<unsettled_fail> unsettled;
  std::deque<int64_t> waiting;  // claimed, not yet running (ids of flights), in order
  int waiting_suspects = 0;     // of `waiting`, registered with the gate
  bool draining = false;
  bool paused = false;  // by the control plane: claim nothing, finish what is in flight
  bool poll_pending = false;
  bool dispatch_pending = false;
  std::chrono::milliseconds error_backoff{0};
  /// Handler time of this queue's deliveries, ms (moving average; < 0: none seen yet).
  double handler_ms = -1;

  consumer_state() = default;
  consumer_state(const consumer_state&) = delete;
  consumer_state& operator=(const consumer_state&) = delete;
  /// However the consumer ends (also by a crash its supervisor restarts), what it
  /// holds of the node's gate goes back, or no suspect would ever run again.
  ~consumer_state() {
    if (!gate) return;
    for (auto& r : runs)
      if (r.active) gate->finished(r.alone);
    if (waiting_suspects != 0) gate->waiting(-waiting_suspects);
  }
};

using consumer_actor = caf::stateful_actor<consumer_state>;

std::string ms_text(std::chrono::milliseconds d) {
  if (d.count() % 1000 == 0) return std::to_string(d.count() / 1000) + "s";
  return std::to_string(d.count()) + "ms";
}

void start_worker(consumer_actor* self, int i) {
  auto& st = self->state;
  auto w = st.params.spawn_worker(self->system(), i);
  self->monitor(w);
  self->link_to(w);  // workers end with their consumer (a restarted one spawns fresh ones)
  st.workers[i] = w;
  st.busy[i] = false;
  st.runs[i] = run{};
}

int idle_worker(const consumer_state& st) {
  for (size_t i = 0; i < st.workers.size(); ++i)
    if (st.workers[i] && !st.busy[i]) return static_cast<int>(i);
  return -1;
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

void schedule_dispatch(consumer_actor* self) {
  if (self->state.dispatch_pending) return;
  self->state.dispatch_pending = true;
  self->delayed_send(self, gate_recheck, dispatch_atom::value);
}

/// Drops a flight; one still waiting gives back its place in the queue and the gate.
void forget(consumer_state& st, std::map<int64_t, in_flight>::iterator it) {
  auto& f = it->second;
  if (f.worker < 0) {
    for (auto w = st.waiting.begin(); w != st.waiting.end(); ++w)
      if (*w == it->first) {
        st.waiting.erase(w);
        break;
      }
    if (f.d.suspect) {
      --st.waiting_suspects;
      st.gate->waiting(-1);
    }
  }
  st.flights.erase(it);
}

/// Worker slot `w` stopped running (done, crashed, or replaced): its gate place goes.
void end_run(consumer_state& st, int w) {
  auto& r = st.runs[w];
  if (!r.active) return;
  st.gate->finished(r.alone);
  r = run{};
}

/// The flight worker `w` runs now, if its delivery was not read again meanwhile.
std::map<int64_t, in_flight>::iterator current_flight(consumer_state& st, int w) {
  const auto& r = st.runs[w];
  if (!r.active) return st.flights.end();
  auto it = st.flights.find(r.id);
  if (it == st.flights.end() || it->second.worker != w || it->second.d.receipt != r.receipt)
    return st.flights.end();
  return it;
}

/// Charges `d`'s failed attempt; a row locked by another transaction (the stuck
/// handler's own ack waiting behind a cancel, say) is not waited for: tried again later.
void charge_failure(consumer_actor* self, const delivery& d, const std::string& reason) {
  auto& st = self->state;
  if (st.backend->fail(d, reason)) return;
  log_line(st.params.owner, "message " + std::to_string(d.id) +
                                ": its row is locked by another transaction; failing it later");
  st.unsettled.push_back(unsettled_fail{d, reason});
}

/// Tries the failures that found their row locked once more.
void retry_unsettled(consumer_actor* self) {
  auto& st = self->state;
  if (st.unsettled.empty()) return;
  std::vector<unsettled_fail> still;
  for (auto& u : st.unsettled)
    if (!st.backend->fail(u.d, u.reason)) still.push_back(std::move(u));
  st.unsettled = std::move(still);
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

/// Starts waiting deliveries on idle workers, in order; a suspect only when
/// nothing else runs on the node.
void dispatch(consumer_actor* self) {
  auto& st = self->state;
  while (!st.waiting.empty() && !st.draining) {
    int w = idle_worker(st);
    if (w < 0) break;
    auto it = st.flights.find(st.waiting.front());
    if (it == st.flights.end() || it->second.worker >= 0) {
      st.waiting.pop_front();
      continue;
    }
    if (it->second.lost) {  // its lease moved on while it waited: not ours to run
      forget(st, it);
      continue;
    }
    auto& f = it->second;
    const bool alone = f.d.suspect;
    bool charged = false;
    if (alone ? !st.gate->try_start_alone(charged) : !st.gate->try_start()) break;
    st.waiting.pop_front();
    if (alone) {
      --st.waiting_suspects;
      st.gate->waiting(-1);
      caf::error err;
      if (charged) err = st.backend->mark_running_alone(f.d);
      if (err) {
        st.gate->finished(true);
        log_line(st.params.owner, "message " + std::to_string(f.d.id) +
                                      " could not be marked as running alone: " + describe(err));
        if (!is(err, errc::lease_lost)) {
          st.backend->give_back(f.d, describe(err));
          if (st.params.metrics) st.params.metrics->handled(st.params.queue, "given_back");
        }
        st.flights.erase(it);
        continue;
      }
      log_line(st.params.owner,
               "message " + std::to_string(f.d.id) + " (" + f.d.type +
                   ") is a suspect (an earlier delivery was abandoned): running it alone" +
                   (charged ? "" : " (uncharged: a stuck handler thread still runs beside it)"));
    }
    f.worker = w;
    st.busy[w] = true;
    st.runs[w] = run{true, f.d.id, f.d.receipt, alone, self->clock().now()};
    self->send(st.workers[w], f.d);
  }
  if (!st.waiting.empty() && !st.draining) schedule_dispatch(self);
}

/// How many deliveries to claim ahead of the idle workers: the queue's prefetch, or with
/// prefetch auto what the workers will start within prefetch_horizon_ms (0 until a handler
/// time is known, and for handlers longer than the horizon).
int prefetch_now(const consumer_state& st) {
  const auto& qc = st.params.qc;
  if (qc.prefetch != queue_config::prefetch_auto) return qc.prefetch;
  if (st.handler_ms < 0) return 0;
  const double per_worker = prefetch_horizon_ms / std::max(st.handler_ms, 0.05);
  const double ahead = std::floor(per_worker) * static_cast<double>(st.workers.size());
  return static_cast<int>(std::min(ahead, static_cast<double>(std::max(1, qc.claim_batch))));
}

/// A worker finished a delivery that ran for `ran`: the handler time prefetch auto uses.
void handler_time(consumer_state& st, std::chrono::nanoseconds ran) {
  const double ms = std::chrono::duration<double, std::milli>(ran).count();
  st.handler_ms = st.handler_ms < 0 ? ms : 0.8 * st.handler_ms + 0.2 * ms;
}

void poll(consumer_actor* self) {
  auto& st = self->state;
  if (st.draining) return;
  tick(self);
  // Before claiming: a delivery whose lease ran out while its row was locked is
  // ours to fail, not to read again.
  retry_unsettled(self);
  if (st.paused) return;
  // A suspect waits for the node to go quiet (or runs now): claim nothing meanwhile.
  if (!st.waiting.empty() || st.gate->quiet_wanted()) {
    dispatch(self);
    schedule_poll(self, std::min(st.params.qc.poll_interval, gate_recheck * 4));
    return;
  }
  int idle = idle_workers(st);
  if (idle == 0) return;  // a done_atom polls again
  // With prefetch, the claim also takes deliveries for the workers that will be idle
  // next; no claim is made again until they have all started (waiting is empty).
  int want = std::min(idle + prefetch_now(st), std::max(1, st.params.qc.claim_batch));
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
  std::vector<int64_t> suspects;
  for (auto& d : *got) {
    if (attempts_exhausted(d, st.params.qc.max_attempts)) {
      auto what = st.backend->poison(d, attempts_exhausted_reason(d, st.params.qc.max_attempts));
      if (st.params.metrics) st.params.metrics->handled(st.params.queue, what);
      log_line(st.params.owner, "message " + std::to_string(d.id) + " poisoned: " + what);
      continue;
    }
    // Read again while we still held it (our lease ran out): the old holder is stale.
    // Its worker (if running) keeps its run, its gate place and its deadline.
    if (auto old = st.flights.find(d.id); old != st.flights.end()) forget(st, old);
    const int64_t id = d.id;
    const bool suspect = d.suspect;
    st.flights[id] = in_flight{std::move(d), -1, false};
    if (suspect) {
      suspects.push_back(id);
      ++st.waiting_suspects;
      st.gate->waiting(1);
    } else {
      st.waiting.push_back(id);
    }
  }
  // Ordinary deliveries first; suspects after them, each alone.
  st.waiting.insert(st.waiting.end(), suspects.begin(), suspects.end());
  dispatch(self);
  if (static_cast<int>(got->size()) == want && st.waiting.empty() && idle_workers(st) > 0)
    self->send(self, poll_atom::value, false);
  else if (st.params.idle_poll)
    schedule_poll(self, st.params.qc.poll_interval);
  // Else a NOTIFY, the ready probe or a worker's done wakes it.
}

/// One statement renews every lease this consumer holds.
void renew_all(consumer_actor* self) {
  auto& st = self->state;
  std::vector<lease> held;
  for (auto& [id, f] : st.flights)
    if (!f.lost) held.push_back(f.d.to_lease());
  if (held.empty()) return;
  auto lost = st.backend->renew_all(held);
  if (!lost) {
    log_line(st.params.owner, "renewal of " + std::to_string(held.size()) +
                                  " leases failed: " + describe(lost.error()));
    return;
  }
  if (st.params.metrics)
    st.params.metrics->leases_renewed(
        st.params.queue, held.size() - std::min(held.size(), lost->size()), lost->size());
  for (auto id : *lost) {
    auto f = st.flights.find(id);
    if (f == st.flights.end()) continue;
    f->second.lost = true;
    log_line(st.params.owner, "lease of message " + std::to_string(id) + " lost");
  }
}

/// Worker `i` is stuck in a handler: keep watching its thread, start a new one.
void replace_stuck_worker(consumer_actor* self, int i) {
  auto& st = self->state;
  auto old = st.workers[i];
  end_run(st, i);
  // Watched (still monitored) until its handler returns; then it is told to quit.
  self->unlink_from(old);
  st.stuck.push_back(old);
  st.gate->stuck(1);
  if (st.params.metrics) st.params.metrics->stuck_workers(st.params.queue, 1);
  st.workers[i] = nullptr;
  st.busy[i] = false;
  if (!st.draining) start_worker(self, i);
}

/// A replaced worker's thread came back from its handler (or died): it is no longer
/// stuck, and it quits. False if `who` is not one of them.
bool release_stuck(consumer_actor* self, const caf::actor_addr& who) {
  auto& st = self->state;
  for (auto it = st.stuck.begin(); it != st.stuck.end(); ++it) {
    if (it->address() != who) continue;
    self->send_exit(*it, caf::exit_reason::kill);
    st.stuck.erase(it);
    st.gate->stuck(-1);
    if (st.params.metrics) st.params.metrics->stuck_workers(st.params.queue, -1);
    return true;
  }
  return false;
}

/// How often running handlers are checked against max_handler_time.
std::chrono::milliseconds overdue_period(const queue_config& qc) {
  return std::clamp<std::chrono::milliseconds>(qc.max_handler_time / 4, 10ms, 1s);
}

/// Handlers still running after max_handler_time: fail their delivery (charged),
/// stop renewing it, and give the worker slot a fresh worker.
void check_overdue(consumer_actor* self) {
  auto& st = self->state;
  const auto now = self->clock().now();
  bool replaced = false;
  for (size_t i = 0; i < st.runs.size(); ++i) {
    const auto& r = st.runs[i];
    if (!r.active || !st.workers[i] || now - r.started < st.params.qc.max_handler_time) continue;
    const std::string reason = "timed out: still running after max_handler_time (" +
                               ms_text(st.params.qc.max_handler_time) + ")";
    log_line(st.params.owner, "message " + std::to_string(r.id) + " " + reason + "; worker " +
                                  std::to_string(i) + " replaced");
    if (auto it = current_flight(st, static_cast<int>(i)); it != st.flights.end()) {
      auto f = it->second;
      forget(st, it);
      if (!f.lost) charge_failure(self, f.d, reason);
    }
    if (st.params.metrics) st.params.metrics->handled(st.params.queue, "timed_out");
    replace_stuck_worker(self, static_cast<int>(i));
    replaced = true;
  }
  if (!replaced) return;
  if (st.draining)
    finish_if_drained(self);
  else
    poll(self);
}

/// drain_timeout passed: give back what still runs (uncharged) and quit.
void drain_deadline(consumer_actor* self) {
  auto& st = self->state;
  if (st.flights.empty()) return;
  log_line(st.params.owner, "drain_timeout (" + ms_text(st.params.drain_timeout) +
                                ") passed: giving back " + std::to_string(st.flights.size()) +
                                " delivery(ies) still running");
  for (size_t i = 0; i < st.runs.size(); ++i)
    if (st.runs[i].active && st.workers[i]) replace_stuck_worker(self, static_cast<int>(i));
  while (!st.flights.empty()) {
    auto it = st.flights.begin();
    auto f = it->second;
    forget(st, it);
    if (f.lost) continue;
    st.backend->give_back(
        f.d, "node drained while it ran (drain_timeout " + ms_text(st.params.drain_timeout) + ")");
    if (st.params.metrics) st.params.metrics->handled(st.params.queue, "given_back");
  }
  finish_if_drained(self);
}

caf::behavior consumer(consumer_actor* self, consumer_params params) {
  auto& st = self->state;
  st.params = std::move(params);
  st.backend = st.params.backend();
  st.gate = st.params.gate ? st.params.gate : std::make_shared<solo_gate>();
  int n = std::max(1, st.params.concurrency);
  st.workers.resize(n);
  st.busy.assign(n, false);
  st.restarts.assign(n, 0);
  st.runs.assign(n, run{});
  for (int i = 0; i < n; ++i) start_worker(self, i);
  install_quiet_handlers(self, st.params.owner);
  // A worker's exit is handled by the down handler (charge, restart); any
  // other exit request ends the consumer (and, by the links, its workers).
  self->set_exit_handler([=](caf::exit_msg& em) {
    for (auto& w : self->state.workers)
      if (w && w.address() == em.source) return;
    self->quit(em.reason);
  });
  self->set_down_handler([=](caf::down_msg& dm) {
    auto& s = self->state;
    if (release_stuck(self, dm.source)) return;
    for (size_t i = 0; i < s.workers.size(); ++i) {
      if (!s.workers[i] || s.workers[i].address() != dm.source) continue;
      // Its delivery was not acked: a failed attempt of that delivery, given back now
      // rather than at lease expiry.
      if (auto it = current_flight(s, static_cast<int>(i)); it != s.flights.end()) {
        auto d = it->second.d;
        bool lost = it->second.lost;
        forget(s, it);
        if (!lost) {
          charge_failure(self, d, "worker crashed: " + self->system().render(dm.reason));
          if (s.params.metrics) s.params.metrics->handled(s.params.queue, "crashed");
        }
      }
      end_run(s, static_cast<int>(i));
      s.workers[i] = nullptr;
      s.busy[i] = false;
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
  self->delayed_send(self, overdue_period(st.params.qc), overdue_atom::value);
  log_line(st.params.owner,
           "consuming queue '" + st.params.queue + "' with " + std::to_string(n) + " worker(s)");
  return {
      [=](poll_atom, bool timer) {
        if (timer) self->state.poll_pending = false;
        poll(self);
      },
      [=](dispatch_atom) {
        self->state.dispatch_pending = false;
        dispatch(self);
      },
      [=](wake_atom, const std::string& queue) {
        if (queue == self->state.params.queue) poll(self);
      },
      [=](wake_atom) { poll(self); },  // the listener (re)connected: look once
      [=](wake_atom, const std::vector<std::string>& ready) {  // the ready probe (sorted)
        if (std::binary_search(ready.begin(), ready.end(), self->state.params.queue)) poll(self);
      },
      [=](renew_atom) {
        tick(self);
        renew_all(self);
        if (!self->state.draining || !self->state.flights.empty())
          self->delayed_send(self, self->state.params.qc.visibility_timeout / 3, renew_atom::value);
      },
      [=](done_atom, int32_t worker, int64_t message_id) {
        auto& s = self->state;
        // A replaced (stuck) worker's late answer: its slot has a new worker now.
        if (release_stuck(self, caf::actor_cast<caf::actor_addr>(self->current_sender()))) return;
        if (worker < 0 || static_cast<size_t>(worker) >= s.workers.size() || !s.workers[worker] ||
            s.workers[worker].address() != self->current_sender())
          return;
        // Only the worker that holds the delivery now: after a re-read (a lease
        // that expired) a stale worker's done must not drop the new holder's flight.
        if (auto f = current_flight(s, worker); f != s.flights.end() && f->first == message_id)
          forget(s, f);
        if (s.runs[worker].active)
          handler_time(s, std::chrono::duration_cast<std::chrono::nanoseconds>(
                              self->clock().now() - s.runs[worker].started));
        end_run(s, worker);
        s.busy[worker] = false;
        s.restarts[worker] = 0;
        if (s.draining) {
          finish_if_drained(self);
        } else {
          dispatch(self);
          poll(self);
        }
      },
      [=](overdue_atom) {
        retry_unsettled(self);
        check_overdue(self);
        if (!self->state.flights.empty() || !self->state.draining)
          self->delayed_send(self, overdue_period(self->state.params.qc), overdue_atom::value);
      },
      [=](respawn_atom, int32_t i) {
        if (self->state.draining || self->state.workers[i]) return;
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
        auto& s = self->state;
        if (s.draining) return;
        s.draining = true;
        // What has not started goes back at once, uncharged.
        while (!s.waiting.empty()) {
          auto it = s.flights.find(s.waiting.front());
          if (it == s.flights.end()) {
            s.waiting.pop_front();
            continue;
          }
          auto d = it->second.d;
          forget(s, it);
          s.backend->give_back(d, "node draining before it started");
          if (s.params.metrics) s.params.metrics->handled(s.params.queue, "given_back");
        }
        log_line(s.params.owner,
                 "draining: " + std::to_string(s.flights.size()) + " delivery(ies) in flight");
        self->delayed_send(self, s.params.drain_timeout, drain_deadline_atom::value);
        finish_if_drained(self);
      },
      [=](drain_deadline_atom) { drain_deadline(self); },
  };
}

}  // namespace

caf::actor spawn_consumer_with(caf::actor_system& sys, consumer_params params, bool detached) {
  if (detached) return sys.spawn<caf::detached>(consumer, std::move(params));
  return sys.spawn(consumer, std::move(params));
}

}  // namespace postbox

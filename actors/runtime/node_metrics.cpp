// node_metrics: a mutex-guarded map; updated by consumer, worker and reaper threads.
#include "actors/runtime/node_metrics.hpp"

#include <algorithm>

#include "actors/runtime/prometheus_text.hpp"

namespace postbox {

node_metrics::node_metrics() = default;

node_metrics::queue_counters& node_metrics::queue(const std::string& name) {
  auto& q = queues_[name];
  if (q.handler.counts.empty()) q.handler.counts.assign(prom::duration_buckets().size() + 1, 0);
  return q;
}

void node_metrics::consumer_tick(const std::string& name, std::chrono::milliseconds stale_after) {
  std::lock_guard<std::mutex> guard{mtx_};
  auto& q = queue(name);
  q.last_tick = std::chrono::steady_clock::now();
  q.stale_after = stale_after;
}

void node_metrics::claimed(const std::string& name, size_t n) {
  std::lock_guard<std::mutex> guard{mtx_};
  queue(name).claimed += n;
}

void node_metrics::claim_failed(const std::string& name) {
  std::lock_guard<std::mutex> guard{mtx_};
  ++queue(name).claim_errors;
}

void node_metrics::handled(const std::string& name, const std::string& outcome) {
  std::lock_guard<std::mutex> guard{mtx_};
  auto& q = queue(name);
  ++q.outcomes[outcome];
  if (outcome == "acked")
    ++q.acks;
  else if (outcome == "given_back")
    ++q.nacks;
  else if (outcome == "failed" || outcome == "timed_out" || outcome == "crashed")
    ++q.failures;
  else if (outcome == "dead_lettered")
    ++q.poisons;
}

void node_metrics::turn(const std::string& actor_type) {
  std::lock_guard<std::mutex> guard{mtx_};
  ++turns_[actor_type];
}

void node_metrics::dedup_duplicates(const std::string& queue, int64_t n) {
  std::lock_guard<std::mutex> guard{mtx_};
  dedup_duplicates_[queue] += static_cast<uint64_t>(n);
}

void node_metrics::handler_duration(const std::string& name, std::chrono::nanoseconds d) {
  const double s = std::chrono::duration<double>(d).count();
  const auto& bounds = prom::duration_buckets();
  // The first bucket whose upper bound holds s (le is "less than or equal").
  const size_t i =
      static_cast<size_t>(std::lower_bound(bounds.begin(), bounds.end(), s) - bounds.begin());
  std::lock_guard<std::mutex> guard{mtx_};
  auto& h = queue(name).handler;
  ++h.counts[i];
  h.sum += s;
  ++h.count;
}

void node_metrics::leases_renewed(const std::string& name, size_t renewed, size_t lost) {
  std::lock_guard<std::mutex> guard{mtx_};
  auto& q = queue(name);
  q.renewals += renewed;
  q.leases_lost += lost;
}

void node_metrics::stuck_workers(const std::string& name, int delta) {
  std::lock_guard<std::mutex> guard{mtx_};
  queue(name).stuck += delta;
}

int node_metrics::stuck_workers() const {
  std::lock_guard<std::mutex> guard{mtx_};
  int n = 0;
  for (const auto& [_, q] : queues_) n += q.stuck;
  return n;
}

void node_metrics::reaper_ran(const std::string& result,
                              const std::map<std::string, int64_t>& rows) {
  std::lock_guard<std::mutex> guard{mtx_};
  ++reaper_runs_[result];
  for (const auto& [kind, n] : rows)
    reaper_rows_[kind] += static_cast<uint64_t>(std::max<int64_t>(n, 0));
}

bool node_metrics::healthy(std::string& why) const {
  std::lock_guard<std::mutex> guard{mtx_};
  auto now = std::chrono::steady_clock::now();
  for (const auto& [name, q] : queues_) {
    if (q.stuck > 0) {
      why = std::to_string(q.stuck) + " worker(s) of queue '" + name +
            "' stuck in a handler past max_handler_time";
      return false;
    }
    if (q.stale_after.count() == 0) continue;
    auto age = std::chrono::duration_cast<std::chrono::milliseconds>(now - q.last_tick);
    if (age > q.stale_after) {
      why = "stale: consumer of queue '" + name + "' last ran " + std::to_string(age.count()) +
            "ms ago";
      return false;
    }
  }
  return true;
}

void node_metrics::write(prom::writer& out) const {
  std::lock_guard<std::mutex> guard{mtx_};
  auto now = std::chrono::steady_clock::now();
  auto per_queue = [&](const char* name, const char* type, const char* help, auto value) {
    out.family(name, type, help);
    for (const auto& [q, c] : queues_) out.sample(name, {{"queue", q}}, value(c));
  };
  per_queue("postbox_claimed_total", "counter", "Deliveries claimed by this node.",
            [](const queue_counters& c) { return static_cast<double>(c.claimed); });
  per_queue("postbox_claim_errors_total", "counter",
            "Claims that failed (the database was unreachable or refused).",
            [](const queue_counters& c) { return static_cast<double>(c.claim_errors); });
  per_queue("postbox_acks_total", "counter",
            "Deliveries acked by this node: the effect and the ack committed together.",
            [](const queue_counters& c) { return static_cast<double>(c.acks); });
  per_queue("postbox_nacks_total", "counter",
            "Deliveries given back uncharged (lost connection, drain, another node's type).",
            [](const queue_counters& c) { return static_cast<double>(c.nacks); });
  per_queue("postbox_failures_total", "counter",
            "Failed attempts charged to the message (handler error, max_handler_time, worker "
            "crash).",
            [](const queue_counters& c) { return static_cast<double>(c.failures); });
  per_queue("postbox_poisons_total", "counter", "Messages this node moved to dead_letters.",
            [](const queue_counters& c) { return static_cast<double>(c.poisons); });
  per_queue("postbox_lease_renewals_total", "counter", "Leases renewed by this node.",
            [](const queue_counters& c) { return static_cast<double>(c.renewals); });
  per_queue("postbox_lease_losses_total", "counter",
            "Leases found lost when renewing (the message was read again elsewhere).",
            [](const queue_counters& c) { return static_cast<double>(c.leases_lost); });
  out.family("postbox_handled_total", "counter", "Deliveries ended on this node, by outcome.");
  for (const auto& [q, c] : queues_)
    for (const auto& [outcome, n] : c.outcomes)
      out.sample("postbox_handled_total", {{"queue", q}, {"outcome", outcome}},
                 static_cast<double>(n));
  out.family("postbox_handler_duration_seconds", "histogram",
             "Time a handler ran, its commit included.");
  const auto& bounds = prom::duration_buckets();
  for (const auto& [q, c] : queues_) {
    uint64_t cumulative = 0;
    for (size_t i = 0; i <= bounds.size(); ++i) {
      cumulative += c.handler.counts[i];
      out.sample("postbox_handler_duration_seconds_bucket",
                 {{"queue", q}, {"le", i < bounds.size() ? prom::format_value(bounds[i]) : "+Inf"}},
                 static_cast<double>(cumulative));
    }
    out.sample("postbox_handler_duration_seconds_sum", {{"queue", q}}, c.handler.sum);
    out.sample("postbox_handler_duration_seconds_count", {{"queue", q}},
               static_cast<double>(c.handler.count));
  }
  per_queue("postbox_stuck_workers", "gauge", "Workers stuck in a handler past max_handler_time.",
            [](const queue_counters& c) { return static_cast<double>(c.stuck); });
  out.family("postbox_consumer_loop_age_seconds", "gauge",
             "Time since each consumer loop of this node last ran.");
  for (const auto& [q, c] : queues_)
    if (c.stale_after.count() != 0)
      out.sample("postbox_consumer_loop_age_seconds", {{"queue", q}},
                 std::chrono::duration<double>(now - c.last_tick).count());
  out.family("postbox_actor_turns_total", "counter",
             "Turns of keyed actors this node finished (their ack committed), by actor type: "
             "rate() is turns per second.");
  for (const auto& [type, n] : turns_)
    out.sample("postbox_actor_turns_total", {{"actor_type", type}}, static_cast<double>(n));
  out.family("postbox_dedup_duplicates_total", "counter",
             "Sends by this node's handlers (send, fan_out children, on_success) that a live "
             "message's dedup key refused: nothing was enqueued, the handler's ack committed. "
             "By the sending handler's queue.");
  for (const auto& [queue, n] : dedup_duplicates_)
    out.sample("postbox_dedup_duplicates_total", {{"queue", queue}}, static_cast<double>(n));
  out.family("postbox_reaper_runs_total", "counter",
             "Reaper ticks on this node: swept (it leads), standby (another node leads), error.");
  for (const auto& [result, n] : reaper_runs_)
    out.sample("postbox_reaper_runs_total", {{"result", result}}, static_cast<double>(n));
  out.family("postbox_reaper_rows_total", "counter", "Rows the reaper's sweeps changed, by kind.");
  for (const auto& [kind, n] : reaper_rows_)
    out.sample("postbox_reaper_rows_total", {{"kind", kind}}, static_cast<double>(n));
}

std::string node_metrics::prometheus() const {
  prom::writer out;
  write(out);
  return out.str();
}

}  // namespace postbox

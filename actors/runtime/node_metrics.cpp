// node_metrics: a mutex-guarded map; updated by consumer and worker threads.
#include "actors/runtime/node_metrics.hpp"

#include <sstream>

namespace postbox {

void node_metrics::consumer_tick(const std::string& queue, std::chrono::milliseconds stale_after) {
  std::lock_guard<std::mutex> guard{mtx_};
  auto& q = queues_[queue];
  q.last_tick = std::chrono::steady_clock::now();
  q.stale_after = stale_after;
}

void node_metrics::claimed(const std::string& queue, size_t n) {
  std::lock_guard<std::mutex> guard{mtx_};
  queues_[queue].claimed += n;
}

void node_metrics::claim_failed(const std::string& queue) {
  std::lock_guard<std::mutex> guard{mtx_};
  ++queues_[queue].claim_errors;
}

void node_metrics::handled(const std::string& queue, const std::string& outcome) {
  std::lock_guard<std::mutex> guard{mtx_};
  ++queues_[queue].outcomes[outcome];
}

void node_metrics::stuck_workers(const std::string& queue, int delta) {
  std::lock_guard<std::mutex> guard{mtx_};
  queues_[queue].stuck += delta;
}

int node_metrics::stuck_workers() const {
  std::lock_guard<std::mutex> guard{mtx_};
  int n = 0;
  for (const auto& [_, q] : queues_) n += q.stuck;
  return n;
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

std::string node_metrics::prometheus() const {
  std::lock_guard<std::mutex> guard{mtx_};
  std::ostringstream out;
  auto now = std::chrono::steady_clock::now();
  out << "# HELP postbox_claimed_total Deliveries claimed by this node.\n"
         "# TYPE postbox_claimed_total counter\n";
  for (const auto& [name, q] : queues_)
    out << "postbox_claimed_total{queue=\"" << name << "\"} " << q.claimed << "\n";
  out << "# HELP postbox_stuck_workers Workers stuck in a handler past max_handler_time.\n"
         "# TYPE postbox_stuck_workers gauge\n";
  for (const auto& [name, q] : queues_)
    out << "postbox_stuck_workers{queue=\"" << name << "\"} " << q.stuck << "\n";
  out << "# HELP postbox_claim_errors_total Claims that failed (database unreachable).\n"
         "# TYPE postbox_claim_errors_total counter\n";
  for (const auto& [name, q] : queues_)
    out << "postbox_claim_errors_total{queue=\"" << name << "\"} " << q.claim_errors << "\n";
  out << "# HELP postbox_handled_total Deliveries handled, by outcome.\n"
         "# TYPE postbox_handled_total counter\n";
  for (const auto& [name, q] : queues_)
    for (const auto& [outcome, n] : q.outcomes)
      out << "postbox_handled_total{queue=\"" << name << "\",outcome=\"" << outcome << "\"} " << n
          << "\n";
  out << "# HELP postbox_consumer_loop_age_seconds Time since each consumer loop last ran.\n"
         "# TYPE postbox_consumer_loop_age_seconds gauge\n";
  for (const auto& [name, q] : queues_)
    out << "postbox_consumer_loop_age_seconds{queue=\"" << name << "\"} "
        << std::chrono::duration<double>(now - q.last_tick).count() << "\n";
  return out.str();
}

}  // namespace postbox

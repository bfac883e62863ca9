// Counters a node keeps about its own work, for /metrics and /healthz: when
// each consumer loop last ran, what it claimed, and how deliveries ended.
#pragma once

#include <chrono>
#include <map>
#include <mutex>
#include <string>

namespace postbox {

class node_metrics {
 public:
  /// A consumer's loop ran (a poll or a lease-renewal tick).
  void consumer_tick(const std::string& queue, std::chrono::milliseconds stale_after);
  void claimed(const std::string& queue, size_t n);
  void claim_failed(const std::string& queue);
  void handled(const std::string& queue, const std::string& outcome);
  /// A worker of `queue` is stuck in a handler past max_handler_time (+1), or its
  /// thread finally came back (-1).
  void stuck_workers(const std::string& queue, int delta);
  /// Workers stuck past max_handler_time on the whole node.
  int stuck_workers() const;

  /// False (and why) when a consumer loop has not run within its stale_after, or a
  /// worker is stuck in a handler past max_handler_time.
  bool healthy(std::string& why) const;
  /// Prometheus text exposition of the counters above.
  std::string prometheus() const;

 private:
  struct queue_counters {
    std::chrono::steady_clock::time_point last_tick;
    std::chrono::milliseconds stale_after{0};
    uint64_t claimed = 0;
    uint64_t claim_errors = 0;
    int stuck = 0;
    std::map<std::string, uint64_t> outcomes;
  };
  mutable std::mutex mtx_;
  std::map<std::string, queue_counters> queues_;
};

}  // namespace postbox

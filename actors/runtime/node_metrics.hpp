// Counters a node keeps about its own work, for /metrics and /healthz: when
// each consumer loop last ran, what it claimed, how deliveries ended and how
// long their handlers ran, lease renewals, and the reaper's sweeps.
#pragma once

#include <chrono>
#include <map>
#include <mutex>
#include <string>
#include <vector>

namespace postbox {

namespace prom {
class writer;
}

class node_metrics {
 public:
  node_metrics();

  /// A consumer's loop ran (a poll or a lease-renewal tick).
  void consumer_tick(const std::string& queue, std::chrono::milliseconds stale_after);
  void claimed(const std::string& queue, size_t n);
  void claim_failed(const std::string& queue);
  /// A delivery ended. `outcome`: acked, failed (an attempt charged: the handler
  /// failed), timed_out, crashed (its worker died), given_back (nacked uncharged),
  /// dead_lettered, lease_lost; other values count only in postbox_handled_total.
  void handled(const std::string& queue, const std::string& outcome);
  /// A keyed actor of `actor_type` finished a turn on this node (its ack committed).
  void turn(const std::string& actor_type);
  /// Sends of a handler of `queue` that a live message's dedup key refused.
  void dedup_duplicates(const std::string& queue, int64_t n);
  /// How long a handler ran (handle_delivery, its commit included).
  void handler_duration(const std::string& queue, std::chrono::nanoseconds d);
  /// One renewal round: `renewed` leases kept, `lost` found gone (another delivery
  /// owns the message now).
  void leases_renewed(const std::string& queue, size_t renewed, size_t lost);
  /// A worker of `queue` is stuck in a handler past max_handler_time (+1), or its
  /// thread finally came back (-1).
  void stuck_workers(const std::string& queue, int delta);
  /// Workers stuck past max_handler_time on the whole node.
  int stuck_workers() const;
  /// One reaper tick: `result` is swept (this node leads), standby or error;
  /// `rows` what the sweep did, by kind.
  void reaper_ran(const std::string& result, const std::map<std::string, int64_t>& rows);

  /// False (and why) when a consumer loop has not run within its stale_after, or a
  /// worker is stuck in a handler past max_handler_time.
  bool healthy(std::string& why) const;
  /// Writes the counters above (every family, with HELP and TYPE, samples or not).
  void write(prom::writer& out) const;
  /// The same as one Prometheus text page.
  std::string prometheus() const;

 private:
  struct histogram {
    std::vector<uint64_t> counts;  // per bucket, not cumulative; last = above every bound
    double sum = 0;
    uint64_t count = 0;
  };
  struct queue_counters {
    std::chrono::steady_clock::time_point last_tick;
    std::chrono::milliseconds stale_after{0};
    uint64_t claimed = 0;
    uint64_t claim_errors = 0;
    uint64_t acks = 0;
    uint64_t nacks = 0;
    uint64_t failures = 0;
    uint64_t poisons = 0;
    uint64_t renewals = 0;
    uint64_t leases_lost = 0;
    int stuck = 0;
    std::map<std::string, uint64_t> outcomes;
    histogram handler;
  };
  queue_counters& queue(const std::string& name);

  mutable std::mutex mtx_;
  std::map<std::string, queue_counters> queues_;
  std::map<std::string, uint64_t> turns_;             // by actor type
  std::map<std::string, uint64_t> dedup_duplicates_;  // by the sending handler's queue
  std::map<std::string, uint64_t> reaper_runs_;
  std::map<std::string, uint64_t> reaper_rows_;
};

}  // namespace postbox

// The cluster-wide gauges a node's /metrics shows: per queue (ready, in flight,
// delayed, oldest ready age, dead letters), outbox per kind, active claims, per actor
// type (keys with a backlog, blocked keys, oldest head age). One read-only statement
// under a statement timeout (metrics_gauges.sql).
#pragma once

#include <caf/expected.hpp>
#include <chrono>
#include <string>
#include <vector>

#include "persistence/pg_session.hpp"

namespace postbox {

struct queue_gauges {
  std::string queue;
  int64_t ready = 0;      // visible now
  int64_t in_flight = 0;  // leased
  int64_t delayed = 0;    // visible later, not leased (nacked with backoff, sent with a delay)
  double oldest_ready_age_s = 0;  // how long the longest-waiting ready message has been ready
  int64_t dead_letters = 0;       // not yet retried
};

/// One priority tier of a queue (0 low .. 3 urgent).
struct tier_gauges {
  std::string queue;
  int priority = 1;
  int64_t ready = 0;
  double oldest_ready_age_s = 0;  // 0 when none is ready
};

struct outbox_gauges {
  std::string kind;
  int64_t pending = 0;
  int64_t failed = 0;
};

/// Keyed actors of one type.
struct actor_gauges {
  std::string actor_type;
  int64_t keys_with_backlog = 0;  // keys with a head: something queued for them
  int64_t blocked = 0;            // keys whose poisoned head holds them (on_poison: hold)
  double oldest_head_age_s = 0;   // how long the oldest head has been its key's head
};

/// One cron schedule (cluster-wide, from its row).
struct schedule_gauges {
  std::string name;
  double next_tick = 0;  // epoch seconds; 0: not computed yet
  double last_tick = 0;
  int64_t sent = 0;
  int64_t skipped = 0;
  int64_t missed = 0;
};

/// Dedup keys of one queue (migration 023).
struct dedup_gauges {
  std::string queue;
  int64_t live = 0;     // live messages holding a dedup key
  int64_t windows = 0;  // ttl windows not yet ended
};

/// One limit (migration 025): scope "queue" or "key", and its key.
struct limit_gauges {
  std::string scope;
  std::string key;
  int64_t slots_in_use = 0;
  int64_t max_in_flight = 0;  // 0: no concurrency limit
  int64_t throttled = 0;      // waiting for a token
  int64_t waiting_slot = 0;   // waiting for a free slot
};

struct cluster_gauges {
  std::vector<queue_gauges> queues;
  std::vector<tier_gauges> tiers;
  std::vector<outbox_gauges> outbox;
  std::vector<actor_gauges> actors;
  std::vector<schedule_gauges> schedules;
  std::vector<dedup_gauges> dedup;
  std::vector<limit_gauges> limits;
  int64_t claims_active = 0;
};

class metrics_store {
 public:
  explicit metrics_store(pg_session& session) : session_(session) {}

  /// `queues` always show (zeros when empty); the server cancels the read after
  /// `timeout`. Never retried: the next scrape asks again.
  caf::expected<cluster_gauges> gauges(const std::vector<std::string>& queues,
                                       std::chrono::milliseconds timeout);

 private:
  pg_session& session_;
};

}  // namespace postbox

// The reaper: one node at a time holds the "reaper" leader lease and sweeps —
// executions not yet terminal with no live work for `stuck_after` end in ERROR
// (with their webhook), stale claims nothing will finish are released,
// tombstones past retention and delivered outbox rows are pruned, and dead
// letters older than 30 days and replies older than reply_retention are removed.
// Every sweep is one run_once() call.
#pragma once

#include <caf/expected.hpp>
#include <chrono>
#include <map>
#include <string>

#include "persistence/actor_store.hpp"
#include "persistence/maintenance_store.hpp"

namespace postbox {

struct reaper_settings {
  std::chrono::milliseconds interval{5000};
  std::chrono::milliseconds stuck_after{120000};
  std::chrono::milliseconds tombstone_retention{std::chrono::hours{24}};
  std::chrono::milliseconds outbox_retention{std::chrono::hours{24}};
  std::chrono::milliseconds dead_letter_retention{std::chrono::hours{24 * 30}};
  /// A reply (durable ask) can be fetched by request id this long.
  std::chrono::milliseconds reply_retention{std::chrono::hours{24}};
  /// Terminal executions, with everything they own: COMPLETED after `completed`,
  /// ERROR and STOPPED after `failed`. Groups of no execution after `completed`.
  std::chrono::milliseconds completed_retention{std::chrono::hours{24 * 7}};
  std::chrono::milliseconds failed_retention{std::chrono::hours{24 * 30}};
  /// Idle keyed actors (no state, backlog, reminder or block) after this; 0: never.
  std::chrono::milliseconds idle_actor_retention{std::chrono::hours{24 * 30}};
  /// Rows per delete statement, and statements per prune kind and sweep.
  int prune_batch = 1000;
  int prune_budget = 1000;
  /// The leader lease outlives two missed sweeps, so it moves within seconds of a
  /// leader's death but not on one slow sweep.
  std::chrono::milliseconds lease_ttl() const { return interval * 2 + std::chrono::seconds(1); }
  int batch = 100;
  /// Priority aging (topology priorities.aging_after): a ready message moves up one
  /// tier per aging_after of waiting, every sweep; 0: off.
  std::chrono::milliseconds aging_after{std::chrono::minutes{5}};
};

struct reaper_counts {
  bool leader = false;
  int64_t term = 0;
  int stranded_failed = 0;
  int claims_released = 0;
  int members_arrived = 0;  // group members gone without arriving, arrived as failed
  int64_t tombstones_pruned = 0;
  int64_t outbox_pruned = 0;
  int64_t dead_letters_pruned = 0;
  int64_t replies_pruned = 0;
  int64_t dedup_keys_pruned = 0;  // ttl windows of dedup keys that ended
  int64_t executions_pruned = 0;  // terminal executions removed with what they owned
  int64_t groups_pruned = 0;      // fired groups (of executions or not)
  int64_t actors_retired = 0;     // idle keyed actors deleted
  int64_t priorities_aged = 0;    // ready messages moved up a tier (aging)
  /// Every row the sweep's prunes deleted, the statements they took, and the most
  /// rows one statement deleted (bounded by prune_batch).
  int64_t rows_pruned = 0;
  int64_t prune_statements = 0;
  int64_t max_rows_per_statement = 0;

  /// The counts above by kind, as /metrics labels them (postbox_reaper_rows_total).
  std::map<std::string, int64_t> rows_by_kind() const {
    return {
        {"executions_failed", stranded_failed},     {"claims_released", claims_released},
        {"group_members_arrived", members_arrived}, {"tombstones_pruned", tombstones_pruned},
        {"outbox_pruned", outbox_pruned},           {"dead_letters_pruned", dead_letters_pruned},
        {"replies_pruned", replies_pruned},         {"executions_pruned", executions_pruned},
        {"groups_pruned", groups_pruned},           {"idle_actors_retired", actors_retired},
        {"dedup_keys_pruned", dedup_keys_pruned},   {"priorities_aged", priorities_aged}};
  }
};

class reaper {
 public:
  reaper(pg_session& session, reaper_settings settings, std::string holder);

  /// One sweep; does nothing but report leader=false when another node leads.
  caf::expected<reaper_counts> run_once();
  /// Gives the lease up (on drain) so another node takes over at once.
  void resign();

 private:
  maintenance_store store_;
  actor_store actors_;
  reaper_settings settings_;
  std::string holder_;
};

}  // namespace postbox

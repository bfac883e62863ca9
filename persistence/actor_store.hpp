// Keyed actors in the database (migration 019): their state, their heads, their
// blocks, and the actor types nodes serve. A turn's own state write runs inside its
// ack's transaction (put_state); the rest are transactions of their own.
#pragma once

#include <caf/expected.hpp>
#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "persistence/handled_commit.hpp"
#include "persistence/mailbox_store.hpp"
#include "persistence/pg_session.hpp"

namespace postbox {

/// An actor's committed state: JSON text ("null" when it has none) and its version.
struct actor_state {
  std::string state_json = "null";
  int64_t version = 0;
};

/// One actor as operators see it.
struct actor_info {
  std::string actor_type;
  std::string actor_key;
  std::string queue;
  int64_t head_id = 0;    // 0: no head (nothing queued)
  double head_age_s = 0;  // how long its head has been the head
  int64_t backlog = 0;    // messages queued for it, its head included
  int64_t state_version = 0;
  int64_t turns = 0;         // messages it has finished (acked, dead-lettered, skipped)
  double blocked_since = 0;  // epoch seconds; 0: not blocked
  std::string blocked_reason;
  std::string state_json = "null";  // show() only
};

/// One actor type as operators see it.
struct actor_type_info {
  std::string actor_type;
  std::string queue;      // "" when no node registered the type
  std::string on_poison;  // hold | skip; "" when no node registered the type
  int64_t keys_with_backlog = 0;
  int64_t blocked = 0;
  double oldest_head_age_s = 0;
};

class actor_store {
 public:
  explicit actor_store(pg_session& session) : session_(session) {}

  /// Inside a turn's ack: writes the new state if its version is still the one the
  /// turn read; the new version, or errc::serialization_failure (changed meanwhile: the
  /// turn writes nothing and runs again, uncharged).
  static caf::expected<int64_t> put_state(tx_context& tx, const actor_state_write& w);

  /// The last committed state of an actor; errc::not_found when it does not exist.
  caf::expected<actor_state> state(const std::string& actor_type, const std::string& actor_key);
  /// on_poison 'hold': blocks the actor of the poisoned head `l` (parked again, its
  /// receipt cleared). errc::lease_lost when the receipt is stale.
  caf::error block(const lease& l, const std::string& reason);
  /// Heads for up to `max` woken keys of `queue` that have none; how many it made.
  caf::expected<int32_t> promote(const std::string& queue, int32_t max);
  /// A node's actor types: type -> queue, with the poison policy of each.
  caf::error register_types(const std::map<std::string, std::string>& queues,
                            const std::map<std::string, std::string>& on_poison,
                            const std::string& node);
  /// The queue serving `actor_type` as nodes registered it; nullopt when none has.
  caf::expected<std::optional<std::string>> queue_of(const std::string& actor_type);
  /// Operator: the blocked head runs again, attempts forgiven; its id, or nullopt when
  /// the actor is not blocked.
  caf::expected<std::optional<int64_t>> retry(const std::string& actor_type,
                                              const std::string& actor_key);
  /// Operator: the blocked head as a delivery under a fresh receipt held by `owner`,
  /// to dead-letter it; nullopt when the actor is not blocked.
  caf::expected<std::optional<delivery>> take_blocked_head(const std::string& actor_type,
                                                           const std::string& actor_key,
                                                           const std::string& owner);
  /// Operator: every queued message of a blocked actor (its head and its backlog) as
  /// deliveries under fresh receipts held by `owner`, to drop them; empty when the
  /// actor is not blocked.
  caf::expected<std::vector<delivery>> take_blocked_queue(const std::string& actor_type,
                                                          const std::string& actor_key,
                                                          const std::string& owner);
  /// Actors (blocked ones only, of one type when given), blocked first.
  caf::expected<std::vector<actor_info>> list(bool blocked_only, const std::string& actor_type,
                                              int32_t limit);
  /// Retention: deletes up to `max` idle actors (no state, nothing queued, no reminder,
  /// not blocked) unchanged for `older`; never waits on a lock nor races a send
  /// (postbox.actor_retire_idle). How many it deleted.
  caf::expected<int32_t> retire_idle(std::chrono::milliseconds older, int32_t max);
  /// Actor types (only `actor_type` when not empty): registered or with work queued.
  caf::expected<std::vector<actor_type_info>> types(const std::string& actor_type);
  /// One actor with its state; errc::not_found when it does not exist.
  caf::expected<actor_info> show(const std::string& actor_type, const std::string& actor_key);

 private:
  pg_session& session_;
};

}  // namespace postbox

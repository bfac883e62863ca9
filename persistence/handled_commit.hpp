// The transaction that ends a runtime handler's success: the ack (fenced by the
// receipt, first, so a stale delivery changes nothing), the handler's own SQL,
// what it sent, the groups it fanned out, its reply, its on_success continuation
// and its arrival at the group it belongs to. All of it or none of it.
#pragma once

#include <caf/expected.hpp>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "persistence/barrier_store.hpp"
#include "persistence/mailbox_store.hpp"
#include "persistence/reminder_store.hpp"
#include "persistence/user_sql.hpp"

namespace postbox {

/// One fan_out: the group to arm (its callback stored in the barrier row) and its
/// children, whose headers name the group and their index.
struct fan_out_group {
  group_spec spec;
  std::vector<outgoing_message> children;
};

/// A delivery's place in a group: where its outcome arrives.
struct group_member {
  std::string group_id;
  int32_t index = -1;
};

/// A keyed actor's new state, written with the ack only if its version is still
/// `expected_version` (a stale delivery never writes it).
struct actor_state_write {
  std::string actor_type;
  std::string actor_key;
  int64_t expected_version = 0;
  std::string state_json;
};

struct success_commit {
  lease delivery;
  /// The delivery's execution ("" for none): once it is STOPPED (cancelled), nothing
  /// but the ack and its arrival commits (guarantee 9).
  std::string execution_id;
  /// How the ack takes the execution's fence, before the in-ack steps.
  execution_fence fence = execution_fence::shared;
  /// Steps inside the transaction, right after the ack; one answering false drops
  /// everything below but the arrival (the ack still commits).
  std::vector<in_ack_fn> in_ack;
  std::vector<sql_statement> statements;  // the handler's own writes, in order
  std::vector<outgoing_message> sends;
  std::vector<fan_out_group> groups;
  std::optional<outgoing_message> on_success;
  /// Arrives with `result_json` (a child that did not hand its place to a nested group).
  std::optional<group_member> arrive;
  /// This delivery's place in its group, when it hands it over instead of arriving:
  /// to the callback of a group it armed (done when that group fires), or to
  /// `sends[hand_over_to_send]` (a fan_out with no children sends its callback now).
  std::optional<group_member> arrive_place;
  int hand_over_to_send = -1;
  std::string result_json = "null";
  std::string reply_key;  // set: store `reply_json` under it and NOTIFY postbox_reply
  std::string reply_json = "null";
  /// Set: the actor's changed state, written with the effects.
  std::optional<actor_state_write> actor_state;
  /// A keyed actor's reminders and timers (set, cancelled, send_after), and the fired
  /// one-shot it handled: written after its state, before its sends.
  reminder_effects reminders;
  /// Test hook: runs inside the transaction just before it commits.
  std::function<void()> before_commit;
  /// Commits in a transaction of its own, never in a group: a keyed actor's turn, or a
  /// delivery that sends to one. Those lock their keys' rows (actors, actor_seqs), and a
  /// group holding several keys would deadlock with a client's multi-key send.
  bool alone = false;
};

struct success_outcome {
  bool group_fired = false;  // this arrival fired its group's callback
  bool effects = true;       // false: an in_ack step declined; only the ack committed
  std::string note;          // what the in_ack steps said happened
  /// The actor state's version after the commit, when it wrote one (else -1).
  int64_t actor_version = -1;
  /// Sends refused by a live message's dedup key (nothing enqueued; not an error).
  int64_t duplicates = 0;
};

caf::expected<success_outcome> commit_success(pg_session& session, const success_commit& c);

/// commit_success's body inside the open transaction `tx` (its before_commit hook last).
caf::expected<success_outcome> commit_success_in(tx_context& tx, const success_commit& c);

/// Group commit (persistence/group_commit.cpp): the successes `cs` in one transaction,
/// one WAL flush, each in a savepoint of its own, so each answer is what commit_success
/// would have answered for it alone: one delivery's error (its user's bad SQL, a stale
/// receipt, a lost fence) rolls back that delivery only; the others commit. Taken in
/// a stable order (execution, group, message) so two nodes' groups lock alike. A
/// delivery that lost a deadlock or a serialization conflict is redone alone after the
/// group's commit. A lost connection runs the whole group once more (every body is
/// fenced by its receipt); a failed COMMIT answers every delivery that was in it with
/// that error. One delivery alone is exactly commit_success.
std::vector<caf::expected<success_outcome>> commit_successes(
    pg_session& session, const std::vector<const success_commit*>& cs);

/// Records a child's outcome at its group; when that fires the group, enqueues the
/// group's stored callback with every child's outcome under `results` (and the
/// group id under `group`). Returns what the arrival did.
caf::expected<arrival> arrive_and_fire(tx_context& tx, const group_member& member,
                                       const child_outcome& outcome);

}  // namespace postbox

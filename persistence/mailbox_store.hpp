// The durable mailbox: send, read with a lease and a receipt, and the fenced
// state changes (renew, ack, nack, dead_letter) that require that receipt.
#pragma once

#include <caf/expected.hpp>
#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <postbox/dedup.hpp>
#include <postbox/priority.hpp>
#include <string>
#include <vector>

#include "persistence/pg_session.hpp"

namespace postbox {

struct outgoing_message {
  std::string queue;
  std::string type;
  std::string execution_id;  // identity lives in columns, never only in the body
  std::string org;
  std::string payload = "{}";  // JSON object text
  std::string headers = "{}";  // JSON object text (continuations, trace id)
  std::chrono::milliseconds delay{0};
  /// To an actor (both set, key 1-256 bytes): handled in its turn, in commit order; queue
  /// may be empty (the type's queue, from postbox.actor_types). Never delayed.
  std::string actor_type{};
  std::string actor_key{};
  /// Dedup (migration 023): empty key, none.
  std::string dedup_key{};
  postbox::dedup_mode dedup_mode = dedup_mode::until_done;
  std::chrono::milliseconds dedup_ttl{0};
  /// Counted against postbox.limits ('key', limit_key) (migration 025); empty: none.
  std::string limit_key{};
  /// Its tier (mailbox.priority); unset: its type's default (postbox.type_priorities),
  /// else normal.
  std::optional<postbox::priority> priority{};
};

/// The fencing token of one delivery: valid until the message is read again.
struct lease {
  int64_t message_id = 0;
  int64_t receipt = 0;
};

struct delivery {
  int64_t id = 0;
  int64_t receipt = 0;
  std::string queue;
  std::string type;
  std::string execution_id;
  std::string org;
  std::string payload;
  std::string headers;
  int32_t read_ct = 0;
  std::string last_error;
  double enqueued_epoch = 0;
  /// Attempts charged to this message (failures, time-outs, crashes while it ran
  /// alone); read_ct counts every read, also those lost to a connection error.
  int32_t attempts = 0;
  /// An earlier delivery was abandoned (its node crashed or froze while holding it):
  /// it runs alone on its node, so a crash it causes is charged to it only.
  bool suspect = false;
  /// The actor it is addressed to ("" for none), and its state's version when claimed
  /// (-1: no actors row).
  std::string actor_type{};
  std::string actor_key{};
  int64_t actor_state_version = -1;

  lease to_lease() const { return {id, receipt}; }
};

struct ack_batch_result {
  std::vector<int64_t> acked;  // ids deleted
  std::vector<int64_t> lost;   // ids whose receipt was stale (lease_lost)
};

class tx_context;

/// The orphan sweep of a claim: the topology's node names, and how many orphans.
struct orphan_sweep {
  std::vector<std::string> topology_nodes;
  int32_t max = 1;
};

/// Messages per INSERT statement of send_batch (a larger batch takes several).
constexpr size_t send_batch_chunk = 5000;

class mailbox_store {
 public:
  explicit mailbox_store(pg_session& session) : session_(session) {}

  /// Never retried blindly once the INSERT may have reached the server.
  caf::expected<int64_t> send(const outgoing_message& msg);
  /// N messages in one round trip; ids in input order.
  caf::expected<std::vector<int64_t>> send_batch(const std::vector<outgoing_message>& msgs);
  caf::expected<send_result> send_unique(const outgoing_message& msg);
  /// Claims up to `max` visible messages of `queue` for `visibility_timeout`. `incarnation`
  /// names the reading node process (default: `owner`): an abandoned delivery that ran
  /// alone is charged a crash only when the incarnation that ran it is gone (not this
  /// one, and no nodes row names it with a heartbeat within `alive_within`); one that a
  /// live incarnation ran alone is left to it for `alive_within` past its lease, then
  /// read uncharged. With `types` given, only messages of
  /// those types are claimed: a node leaves another node's types alone on a queue they
  /// share. With `sweep` too, up to `sweep->max` more messages of types that no node of
  /// the topology serves on `queue` (to dead-letter them); it scans the queue's backlog
  /// of other types, so run it rarely. `limited`: claim through the queue's and the
  /// messages' limits (postbox.claim_limited, migration 025); the sweep's orphans are
  /// claimed apart, by the plain claim.
  /// of other types, so run it rarely.
  /// The topology's default tier per message type (priorities.types) replaces the
  /// stored ones (type_priorities_set.sql); `node` names the writer.
  caf::error set_type_priorities(const std::map<std::string, postbox::priority>& types,
                                 const std::string& node);
  caf::expected<std::vector<delivery>> read(
      const std::string& queue, int max, std::chrono::milliseconds visibility_timeout,
      const std::string& owner, const std::string& incarnation = {},
      const std::vector<std::string>* types = nullptr, const orphan_sweep* sweep = nullptr,
      std::chrono::milliseconds alive_within = std::chrono::seconds(6), bool limited = false);
  /// The fenced writes: a stale receipt changes nothing and returns errc::lease_lost.
  caf::error renew_lease(const lease& l, std::chrono::milliseconds visibility_timeout);
  /// Renews every lease in `ls` in one statement; returns the message ids whose lease
  /// is lost (stale receipt). A lease whose ack is committing right now counts as held.
  caf::expected<std::vector<int64_t>> renew_leases(const std::vector<lease>& ls,
                                                   std::chrono::milliseconds visibility_timeout);
  caf::error ack(const lease& l);
  caf::expected<ack_batch_result> ack_batch(const std::vector<lease>& leases);
  /// Gives the delivery back uncharged (a drain, a lost connection).
  caf::error nack(const lease& l, std::chrono::milliseconds delay, const std::string& error);
  /// A failed attempt charged to the message (handler error, time-out); returns its
  /// attempts so far.
  caf::expected<int32_t> fail(const lease& l, std::chrono::milliseconds delay,
                              const std::string& reason);
  /// fail and nack that never wait on a row lock: errc::transient when another
  /// transaction holds the row (try again later), lease_lost when the receipt is stale.
  caf::expected<int32_t> fail_unless_locked(const lease& l, std::chrono::milliseconds delay,
                                            const std::string& reason);
  caf::error nack_unless_locked(const lease& l, std::chrono::milliseconds delay,
                                const std::string& error);
  /// Marks a suspect as running alone on node `incarnation`: its abandonment is now its own.
  caf::error mark_running_alone(const lease& l, const std::string& incarnation);
  /// Moves the message, whole, to dead_letters; returns the dead letter's id.
  caf::expected<int64_t> dead_letter(const lease& l, const std::string& reason);
  caf::expected<int64_t> depth(const std::string& queue);
  /// Of `queues`, those with work a claim could take now (a visible message in any tier, or
  /// a woken actor key): the node's one idle poll for all its queues (mailbox_ready_queues.sql).
  caf::expected<std::vector<std::string>> ready_queues(const std::vector<std::string>& queues);

  // The same operations inside a caller's transaction (units of work).
  static caf::expected<int64_t> send(tx_context& tx, const outgoing_message& msg);
  static caf::expected<std::vector<int64_t>> send_batch(tx_context& tx,
                                                        const std::vector<outgoing_message>& msgs);
  /// send and send_batch with each message's dedup outcome (a duplicate's id is the live
  /// message's). send and send_batch return these ids.
  static caf::expected<send_result> send_unique(tx_context& tx, const outgoing_message& msg);
  static caf::expected<std::vector<send_result>> send_batch_unique(
      tx_context& tx, const std::vector<outgoing_message>& msgs);
  static caf::error ack(tx_context& tx, const lease& l);
  /// ack, then the fence of `execution_id` (exclusive or shared, held until commit) and
  /// whether it is STOPPED, read after the fence was granted (mailbox_ack_stopped.sql,
  /// one round trip).
  static caf::expected<bool> ack_stopped(tx_context& tx, const lease& l,
                                         const std::string& execution_id, bool exclusive);
  static caf::expected<int64_t> dead_letter(tx_context& tx, const lease& l,
                                            const std::string& reason);

 private:
  pg_session& session_;
};

/// Exponential backoff for nack: base * 2^(attempt-1), capped.
std::chrono::milliseconds backoff_delay(int attempt,
                                        std::chrono::milliseconds base = std::chrono::seconds(1),
                                        std::chrono::milliseconds cap = std::chrono::minutes(5));

}  // namespace postbox

// The pipeline's message handlers as plain functions: one call handles one
// delivery end to end (effect + ack in one transaction, or a dead letter).
// Worker actors call them; tests call them directly.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>

#include "actors/runtime/actor_cache.hpp"
#include "actors/runtime/handler_registry.hpp"
#include "messages/messages.hpp"
#include "persistence/mailbox_store.hpp"
#include "persistence/units_of_work.hpp"

namespace postbox {

struct topology;
class group_committer;

/// What handling a delivery did to it.
enum class handled {
  acked,          // the effect and the ack committed together
  lease_lost,     // the receipt went stale (the lease expired): another delivery owns it now
  retry_later,    // a transient failure: nacked with backoff (or left to its lease)
  dead_lettered,  // poisoned: moved to dead_letters, execution ERROR, on_error sent
  held,           // a keyed actor's poisoned head under on_poison 'hold': its key is blocked
};
const char* to_string(handled x);

struct handler_result {
  handled what = handled::acked;
  std::string detail;
  /// retry_later only: the attempt was charged to the message (a failure), not
  /// given back uncharged (the database's or the node's trouble).
  bool charged = false;
  /// acked, for a keyed actor's turn that wrote its state: the state's new version.
  int64_t actor_version = -1;
  /// acked: the handler's sends that were dedup duplicates (nothing enqueued for them).
  int64_t duplicates = 0;
};

/// Everything a handler needs; one per worker (each worker owns its session).
struct handler_context {
  pg_session& session;
  const topology& topo;
  const handler_registry& handlers;
  std::string owner;  // "node/role/worker" for claims and leases
  /// Where uploaded blobs are written for the processor: $TMPDIR, else /tmp.
  std::string temp_dir;
  /// Test hook: runs inside a runtime handler's success transaction before commit.
  std::function<void()> before_commit;
  /// Where a runtime handler's success commits: the node's group committer, shared by
  /// all its workers (null: this worker's session, one transaction per delivery).
  group_committer* committer = nullptr;
  /// What handlers keep between deliveries on this worker (e.g. the pipeline's
  /// processors), by a key of their choosing. Never shared between workers.
  std::map<std::string, std::shared_ptr<void>> locals;
  /// Keyed actors' states by version; the node shares one between its workers.
  std::shared_ptr<actor_state_cache> actor_cache;

  handler_context(pg_session& s, const topology& t, const handler_registry& h, std::string o);
  ~handler_context();

  /// Where a handler's reads (context::query) run: a read-only connection of this
  /// worker's own, opened on first use, so a read is one round trip; behind a pooler
  /// the worker's session (a second connection per worker could exhaust its pool).
  pg_session& reads();

 private:
  std::unique_ptr<pg_session> reads_;
};

/// Dispatches by the delivery's type to the context's registry; a type it has no
/// handler for is dead-lettered. Never throws: a throw is a failed attempt.
handler_result handle_delivery(handler_context& ctx, const delivery& d);

/// Dead-letters `d` with `reason`, fails its execution (identity from the envelope
/// columns) and enqueues its on_error continuation, all in one transaction.
handler_result poison(handler_context& ctx, const delivery& d, const std::string& reason);

/// poison, whatever the actor type's on_poison says (an operator's skip of a held head).
handler_result poison_now(handler_context& ctx, const delivery& d, const std::string& reason);

/// Dead-letters `d` with `reason` and nothing else: no on_error, no group arrival, its
/// execution untouched (a message that should never have been sent).
handler_result drop(handler_context& ctx, const delivery& d, const std::string& reason);

/// What poison_now commits for `d`: its dead letter with the reason (naming the
/// message), its execution's ERROR, its on_error, its group arrival.
poison_request poison_request_of(const delivery& d, const std::string& reason);
/// What drop commits for `d`: its dead letter and its group arrival, nothing else.
poison_request drop_request_of(const delivery& d, const std::string& reason);

/// True when `d` is to be dead-lettered instead of run: its charged attempts reached
/// `max_attempts`, or (a guard against loops no charge catches) it was read far more
/// often than that without ever being acked.
bool attempts_exhausted(const delivery& d, int32_t max_attempts);

/// Why such a delivery is dead-lettered: how many attempts, and what the last one
/// was (crashed its node while running alone / timed out / failed with ERROR TEXT).
std::string attempts_exhausted_reason(const delivery& d, int32_t max_attempts);

/// Maps a failure to a result: lease_lost; or retry_later after a best-effort nack
/// (a lost connection is not the message's fault: uncharged) or a charged fail.
handler_result store_failure(handler_context& ctx, const delivery& d, const caf::error& err);

}  // namespace postbox

// State changes that compose several stores in one transaction: the effect and
// the ack commit together or not at all. Each one acks first, so a stale
// receipt (lease_lost) rolls everything back and a retry after a lost
// connection cannot apply twice.
#pragma once

#include <caf/expected.hpp>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "persistence/barrier_store.hpp"
#include "persistence/execution_store.hpp"
#include "persistence/handled_commit.hpp"
#include "persistence/mailbox_store.hpp"

namespace postbox {

struct batch_completion {
  arrival barrier;                  // what the arrival did to the barrier
  int64_t callback_message_id = 0;  // set when this arrival fired and enqueued the callback
};

/// ack(batch) + barrier arrival + (if this arrival fires) enqueue `callback`.
caf::expected<batch_completion> complete_batch(pg_session& session, const lease& batch,
                                               const std::string& execution_id, int32_t batch_index,
                                               const outgoing_message& callback);

}  // namespace postbox

namespace postbox {

enum class start_outcome {
  started,           // EXECUTING, barrier armed, batches enqueued, orchestration acked
  claim_held,        // another message's delivery holds the claim: acked, nothing started
  tombstoned,        // the execution finished earlier: acked, nothing started
  already_terminal,  // terminal without a tombstone: tombstone written, acked
  not_queued,        // the execution is past QUEUED (started by an earlier delivery): acked
};
const char* to_string(start_outcome x);

struct start_request {
  lease delivery;  // the execute_workflow delivery: acked first, so a stale receipt changes nothing
  std::string owner;
  std::string execution_id;
  std::string org;
  std::string workflow;
  int32_t batch_size = 0;
  int32_t files_total = 0;
  std::vector<outgoing_message> batches;  // process_file_batch messages, index = batch_index
  std::string headers = "{}";             // kept on the execution row (continuations)
  /// Test hook: runs right after the claim is taken, inside the transaction
  /// (fault tests freeze or kill the node there).
  std::function<void()> after_claim;
};

/// One transaction: ack + claim (fenced by the delivery) + status QUEUED -> EXECUTING
/// + arm the barrier + enqueue every batch. All of it or none of it.
caf::expected<start_outcome> start_execution(pg_session& session, const start_request& req);

enum class finish_outcome {
  completed,          // this delivery completed it: status, counts, outbox rows, continuation
  already_completed,  // a prior delivery completed it: acked, no side effects again
  not_executing,      // ERROR/STOPPED (e.g. poisoned) after its barrier fired: acked, nothing else
  barrier_not_fired,  // a stray callback (its barrier has not fired): dead-lettered, nothing else
};
const char* to_string(finish_outcome x);

struct finish_result {
  finish_outcome outcome = finish_outcome::completed;
  std::string dead_letter_reason;  // set for barrier_not_fired
};

/// One transaction. The execution's barrier is read FOR SHARE first: unless it has
/// fired, the callback is stray and is dead-lettered (reason prefixed by
/// `message_label`) with no other change. Otherwise: ack + CAS EXECUTING -> COMPLETED
/// with counts from file_results + webhook/usage outbox rows + tombstone +
/// `on_success` (when given).
caf::expected<finish_result> finish_execution(pg_session& session, const lease& delivery,
                                              const std::string& execution_id,
                                              const std::optional<outgoing_message>& on_success,
                                              const std::string& message_label);

struct poison_request {
  lease delivery;
  std::string execution_id;  // from the envelope columns; may be empty
  std::string reason;
  std::optional<outgoing_message> on_error;
  /// The message's own on_error header as JSON ("" if none). It is sent unless it is
  /// its execution's on_error (copied onto the execution's other messages) and the
  /// execution had already failed: that one goes once per execution.
  std::string on_error_spec;
  /// A child of a group: it arrives there with the reason as its error (a group
  /// whose barrier is gone or never was, a forged header, is skipped).
  std::optional<group_member> arrive;
};

struct poison_outcome {
  int64_t dead_letter_id = 0;
  bool execution_failed = false;  // this call moved the execution to ERROR
  bool on_error_sent = false;
  bool group_fired = false;  // its arrival fired the group's callback
};

/// One transaction: dead-letter the delivery (fenced) + execution -> ERROR with the
/// reason (if not terminal) + webhook/usage outbox rows + tombstone + `on_error`.
/// The execution's own on_error is sent once per execution (by the poison that failed
/// it); any other message's on_error is always sent.
caf::expected<poison_outcome> poison_message(pg_session& session, const poison_request& req);

}  // namespace postbox

namespace postbox {

/// One transaction: create the execution (QUEUED) and enqueue its orchestration
/// message; a submit that fails leaves neither. Not retried once the INSERTs may
/// have reached the server.
caf::error submit_execution(pg_session& session, const new_execution& execution,
                            const outgoing_message& orchestration);

}  // namespace postbox

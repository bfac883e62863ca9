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
#include "persistence/blob_store.hpp"
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

/// poison_message for each of `reqs`, all in one transaction (all or none): an
/// operator's drop of a blocked actor's whole queue.
caf::expected<std::vector<poison_outcome>> poison_messages(pg_session& session,
                                                           const std::vector<poison_request>& reqs);

}  // namespace postbox

namespace postbox {

/// One transaction: create the execution (QUEUED) and enqueue its orchestration
/// message; a submit that fails leaves neither. Not retried once the INSERTs may
/// have reached the server.
/// With `blobs`, the uploaded files are stored in the same transaction first: an
/// execution never names a blob that is not there, and a failed upload leaves nothing.
caf::error submit_execution(pg_session& session, const new_execution& execution,
                            const outgoing_message& orchestration,
                            const blob_source* blobs = nullptr);

}  // namespace postbox

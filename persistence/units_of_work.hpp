// State changes that compose several stores in one transaction: the effect and
// the ack commit together or not at all. Each one acks first, so a stale
// receipt (lease_lost) rolls everything back and a retry after a lost
// connection cannot apply twice.
#pragma once

#include <caf/expected.hpp>
#include <string>

#include "persistence/barrier_store.hpp"
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

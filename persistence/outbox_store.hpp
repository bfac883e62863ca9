// The outbox: side effects of terminal states (webhook, usage), written at most
// once per (execution, kind) in the transaction that decides them, delivered later.
#pragma once

#include <caf/expected.hpp>
#include <chrono>
#include <string>
#include <vector>

#include "persistence/pg_session.hpp"

namespace postbox {

struct outbox_item {
  int64_t id = 0;
  std::string execution_id;
  std::string kind;      // "webhook", "usage"
  std::string payload;   // JSON object text
  int32_t attempts = 0;  // after this claim; also the fencing token of mark_*
};

enum class outbox_state { pending, delivered, failed };

class outbox_store {
 public:
  explicit outbox_store(pg_session& session) : session_(session) {}

  /// True when this call created the row; false when (execution, kind) existed.
  caf::expected<bool> enqueue(const std::string& execution_id, const std::string& kind,
                              const std::string& payload);
  /// Claims up to `max` due rows of `kinds`; rows of other kinds are left pending.
  caf::expected<std::vector<outbox_item>> claim_for_delivery(
      int max, std::chrono::milliseconds lease, const std::string& owner,
      const std::vector<std::string>& kinds = {"webhook", "usage"});
  caf::error mark_delivered(const outbox_item& item);
  /// Schedules another attempt after `retry_in`, or marks the row failed for good
  /// once `max_attempts` is reached; returns the resulting state.
  caf::expected<outbox_state> mark_failed(const outbox_item& item,
                                          std::chrono::milliseconds retry_in, int32_t max_attempts,
                                          const std::string& error);

  static caf::expected<bool> enqueue(tx_context& tx, const std::string& execution_id,
                                     const std::string& kind, const std::string& payload);

 private:
  pg_session& session_;
};

}  // namespace postbox

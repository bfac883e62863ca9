// The fan-in barrier of a group: armed with N expected children; each child's
// arrival (with its outcome) is recorded once, and exactly one arrival is told
// that it fired. A group is any handler's fan_out; the file pipeline's group of
// batches has its execution's id as group id.
#pragma once

#include <caf/expected.hpp>
#include <optional>
#include <string>
#include <vector>

#include "persistence/mailbox_store.hpp"
#include "persistence/pg_session.hpp"

namespace postbox {

struct arrival {
  /// Children still expected after this arrival (on a sharded group: shards still open).
  int32_t remaining = 0;
  bool counted = false;  // false: this child had already arrived
  bool fired = false;    // true for exactly one arrival per barrier
  /// The group was armed with a stored callback (enqueue it with fired_callback).
  bool has_callback = false;
};

struct barrier_state {
  int32_t expected = 0;
  int32_t remaining = 0;
  bool fired = false;
};

struct group_spec {
  std::string group_id;
  int32_t expected = 0;
  std::string execution_id;       // may be empty
  std::string callback_json;      // may be empty: the arriving handler brings its own
  int64_t parent_message_id = 0;  // 0: none
  /// The messages that may arrive, by index (a fan_out's children); empty: any
  /// arrival without a message id (the pipeline's batches armed before migration 005).
  std::vector<int64_t> child_ids;
};

/// What one child did: its result, or the error that dead-lettered it.
struct child_outcome {
  bool ok = true;
  std::string result_json = "null";
  std::string error;
  int64_t message_id = 0;
};

class barrier_store {
 public:
  explicit barrier_store(pg_session& session) : session_(session) {}

  caf::error arm(const std::string& execution_id, int32_t expected);
  caf::expected<arrival> arrive(const std::string& group_id, int32_t child_index);
  caf::expected<barrier_state> get(const std::string& group_id);

  /// How many shards a group's arrivals count on (0: the group's own row); see
  /// 008_barrier_shards.sql.
  static int32_t shards_for(const group_spec& spec);
  /// Arms a group; constraint_violation (naming the id) when the id is armed already.
  static caf::error arm(tx_context& tx, const group_spec& spec);
  /// An execution's group (group id = execution id), without a stored callback.
  static caf::error arm(tx_context& tx, const std::string& execution_id, int32_t expected);
  static caf::expected<arrival> arrive(tx_context& tx, const std::string& group_id,
                                       int32_t child_index, const child_outcome& outcome = {});
  /// The stored callback of a fired group, with every child's outcome (barrier_fire.sql);
  /// `handover` is set when the callback takes over its parent's place in an outer group.
  struct handover {
    std::string group_id;
    int32_t index = -1;
    int64_t from_message_id = 0;
  };
  static caf::expected<outgoing_message> fired_callback(tx_context& tx, const std::string& group_id,
                                                        std::optional<handover>& place);
  /// Moves a child's place in `h.group_id` from `h.from_message_id` to `to_message_id`.
  static caf::error hand_over(tx_context& tx, const handover& h, int64_t to_message_id);
  /// The barrier, locked FOR SHARE until the transaction ends (no arrival can fire it
  /// meanwhile); not_found when none is armed.
  static caf::expected<barrier_state> lock(tx_context& tx, const std::string& group_id);

 private:
  pg_session& session_;
};

}  // namespace postbox

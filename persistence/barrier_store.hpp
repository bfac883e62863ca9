// The fan-in barrier: armed with N expected batches; each batch's arrival is
// recorded once, and exactly one arrival is told that it fired.
#pragma once

#include <caf/expected.hpp>
#include <string>

#include "persistence/pg_session.hpp"

namespace postbox {

struct arrival {
  int32_t remaining = 0;  // batches still expected after this arrival
  bool counted = false;   // false: this batch had already arrived
  bool fired = false;     // true for exactly one arrival per barrier
};

struct barrier_state {
  int32_t expected = 0;
  int32_t remaining = 0;
  bool fired = false;
};

class barrier_store {
 public:
  explicit barrier_store(pg_session& session) : session_(session) {}

  caf::error arm(const std::string& execution_id, int32_t expected);
  caf::expected<arrival> arrive(const std::string& execution_id, int32_t batch_index);
  caf::expected<barrier_state> get(const std::string& execution_id);

  static caf::error arm(tx_context& tx, const std::string& execution_id, int32_t expected);
  static caf::expected<arrival> arrive(tx_context& tx, const std::string& execution_id,
                                       int32_t batch_index);
  /// The barrier, locked FOR SHARE until the transaction ends (no arrival can fire it
  /// meanwhile); not_found when none is armed.
  static caf::expected<barrier_state> lock(tx_context& tx, const std::string& execution_id);

 private:
  pg_session& session_;
};

}  // namespace postbox

// Orchestration claims: one per execution, held by a delivery (message id +
// receipt) like a lease, or a tombstone once the execution is terminal.
#pragma once

#include <caf/expected.hpp>
#include <chrono>
#include <string>
#include <vector>

#include "persistence/mailbox_store.hpp"

namespace postbox {

enum class claim_outcome {
  won,         // this delivery holds the claim (new, or taken over from an older delivery)
  held,        // another message's delivery holds it
  tombstoned,  // the execution is finished; nothing may start it again
};

const char* to_string(claim_outcome x);

struct stale_claim {
  std::string execution_id;
  std::string owner;
  int64_t message_id = 0;
  int64_t receipt = 0;
  double updated_epoch = 0;
};

class claims_store {
 public:
  explicit claims_store(pg_session& session) : session_(session) {}

  caf::expected<claim_outcome> try_claim(const std::string& execution_id, const std::string& owner,
                                         const lease& holder);
  caf::error tombstone(const std::string& execution_id, const std::string& owner);
  /// Releases the claim if `holder` still holds it; releasing twice is fine.
  caf::error release(const std::string& execution_id, const lease& holder);
  caf::expected<std::vector<stale_claim>> find_stale(std::chrono::milliseconds older_than,
                                                     int limit = 100);

  static caf::expected<claim_outcome> try_claim(tx_context& tx, const std::string& execution_id,
                                                const std::string& owner, const lease& holder);
  static caf::error tombstone(tx_context& tx, const std::string& execution_id,
                              const std::string& owner);

 private:
  pg_session& session_;
};

}  // namespace postbox

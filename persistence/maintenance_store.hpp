// The reaper's statements: leadership as a lease row tied to a term, and the
// sweeps that end stranded executions and prune what is past retention.
#pragma once

#include <caf/expected.hpp>
#include <chrono>
#include <string>
#include <vector>

#include "persistence/pg_session.hpp"

namespace postbox {

class maintenance_store {
 public:
  explicit maintenance_store(pg_session& session) : session_(session) {}

  /// Takes or renews leadership `name` for `ttl`; the term when `holder` leads, 0 when not.
  caf::expected<int64_t> acquire_leadership(const std::string& name, const std::string& holder,
                                            std::chrono::milliseconds ttl);
  caf::error resign_leadership(const std::string& name, const std::string& holder);

  /// Ends stranded executions in ERROR (with webhook/usage rows and a tombstone),
  /// at most `limit`; returns their ids.
  caf::expected<std::vector<std::string>> fail_stranded(std::chrono::milliseconds stuck_after,
                                                        int limit);
  caf::expected<std::vector<std::string>> release_stale_claims(std::chrono::milliseconds age);
  caf::expected<int64_t> prune_tombstones(std::chrono::milliseconds age);
  caf::expected<int64_t> prune_delivered_outbox(std::chrono::milliseconds age);
  caf::expected<int64_t> prune_dead_letters(std::chrono::milliseconds age);
  /// Replies (durable ask) older than `age`; returns how many.
  caf::expected<int64_t> prune_replies(std::chrono::milliseconds age);

 private:
  pg_session& session_;
};

}  // namespace postbox

// The reaper's statements: leadership as a lease row tied to a term, and the
// sweeps that end stranded executions and prune what is past retention.
#pragma once

#include <caf/expected.hpp>
#include <chrono>
#include <string>
#include <vector>

#include "persistence/pg_session.hpp"

namespace postbox {

/// What a prune did: rows deleted, statements run, the most rows one statement
/// deleted, and for prune_executions the executions (or groups) removed.
struct prune_tally {
  int64_t rows = 0;
  int64_t statements = 0;
  int64_t max_rows_per_statement = 0;
  int64_t executions = 0;
  int64_t groups = 0;
};

class maintenance_store {
 public:
  /// `batch`: rows per delete statement; `budget`: statements per prune call.
  explicit maintenance_store(pg_session& session, int batch = 1000, int budget = 1000)
      : session_(session), batch_(batch), budget_(budget) {}

  /// Takes or renews leadership `name` for `ttl`; the term when `holder` leads, 0 when not.
  caf::expected<int64_t> acquire_leadership(const std::string& name, const std::string& holder,
                                            std::chrono::milliseconds ttl);
  caf::error resign_leadership(const std::string& name, const std::string& holder);

  /// Ends stranded executions in ERROR (with webhook/usage rows and a tombstone),
  /// at most `limit`; returns their ids.
  caf::expected<std::vector<std::string>> fail_stranded(std::chrono::milliseconds stuck_after,
                                                        int limit);
  caf::expected<std::vector<std::string>> release_stale_claims(std::chrono::milliseconds age);
  /// Members of groups quiet for `quiet` whose message is gone without arriving
  /// (reaper_find_lost_members.sql) arrive now as failed, at most `limit`, each in its own
  /// transaction (a group they complete fires its callback); returns how many arrived.
  caf::expected<int> arrive_lost_members(std::chrono::milliseconds quiet, int limit);
  /// The prunes below delete at most `batch` rows a statement, each statement its own
  /// transaction (no long locks), until nothing is left or `budget` statements ran.
  /// Each reports rows deleted and statements run into `into`.
  caf::error prune_tombstones(std::chrono::milliseconds age, prune_tally& into);
  caf::error prune_delivered_outbox(std::chrono::milliseconds age, prune_tally& into);
  caf::error prune_dead_letters(std::chrono::milliseconds age, prune_tally& into);
  /// Replies (durable ask) older than `age`.
  caf::error prune_replies(std::chrono::milliseconds age, prune_tally& into);
  /// ttl windows of dedup keys that ended (migration 023).
  caf::error prune_dedup_keys(prune_tally& into);
  /// Terminal executions of `statuses` finished more than `age` ago, with everything
  /// they own (file results, blobs, groups and arrivals, claim, outbox rows); `into.rows`
  /// counts every row deleted, `into.executions` the executions.
  caf::error prune_executions(const std::vector<std::string>& statuses,
                              std::chrono::milliseconds age, prune_tally& into);
  /// Priority aging: ready messages of tier K waiting (K + 1) x `after` move up one tier
  /// (reaper_age_priorities.sql), `batch` rows a statement, at most `budget` statements.
  caf::error age_priorities(std::chrono::milliseconds after, prune_tally& into);
  /// Groups of no execution that fired more than `age` ago, with their arrivals.
  caf::error prune_groups(std::chrono::milliseconds age, prune_tally& into);

 private:
  caf::expected<int64_t> delete_step(const char* query, const std::vector<std::string>& args,
                                     prune_tally& into);
  caf::error delete_all(const char* query, const std::vector<std::string>& args, prune_tally& into);

  pg_session& session_;
  int batch_;
  int budget_;
};

}  // namespace postbox

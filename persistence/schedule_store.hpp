// Cron schedules in the database (migration 022): nodes declare the topology's, fire
// due ones (one transaction per schedule: lock, ticks from the database's clock, the
// tick rows and messages, a CAS on next_tick), and operators list, pause, resume and
// trigger them.
#pragma once

#include <caf/expected.hpp>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "persistence/pg_session.hpp"

namespace postbox {

/// A topology schedule no live node declared for this long is not fired (removed from
/// every topology, it stops); running nodes declare theirs every 5 s.
constexpr int64_t schedule_stale_ms = 30000;

/// A schedule as a topology defines it.
struct schedule_definition {
  std::string name;
  std::string cron;
  std::string timezone = "UTC";
  std::string target;  // JSON {queue, type, payload[, headers, actor_type, actor_key]}
  std::string on_missed = "once";
  std::string overlap = "allow";
  int64_t catch_up_window_ms = 86400000;
};

/// One schedule's state (times: epoch ms).
struct schedule_row {
  std::string name;
  std::string cron;
  std::string timezone;
  std::string target;
  std::optional<int64_t> next_tick;
  std::optional<int64_t> last_tick;
  bool paused = false;
  std::string on_missed;
  std::string overlap;
  std::string defined_by;
  bool stale = false;  // a topology schedule no live node declares: not fired
  std::string error;
  int64_t sent = 0;
  int64_t skipped = 0;
  int64_t missed = 0;
};

/// What one firing did.
struct schedule_firing {
  bool found = false;  // false: nothing was due
  std::string name;
  int64_t sent = 0;
  int64_t skipped = 0;
  /// Nothing was due: in how many ms the next schedule is (none: no schedule can fire).
  std::optional<int64_t> next_due_ms;
};

class schedule_store {
 public:
  explicit schedule_store(pg_session& session) : session_(session) {}

  /// Creates or updates the topology's schedules (next_tick kept unless cron/zone changed).
  caf::error declare(const std::vector<schedule_definition>& defs);
  /// This node still declares `names` (topology schedules).
  caf::error mark_seen(const std::vector<std::string>& names);
  /// Fires one due schedule, if any (one transaction; never waits on a row lock). A
  /// topology schedule not declared within `stale_ms` is not due. A schedule whose cron,
  /// zone or target cannot be used gets its error recorded and is not fired again.
  caf::expected<schedule_firing> fire_one(int64_t stale_ms);
  caf::expected<std::vector<schedule_row>> list(int64_t stale_ms);
  /// Pauses or resumes; errc::not_found for an unknown name.
  caf::error set_paused(const std::string& name, bool paused);
  /// One extra run now; its message id; errc::not_found for an unknown name.
  caf::expected<int64_t> trigger(const std::string& name);
  /// Forgets recorded ticks older than `age_ms` (at most `max`); how many.
  caf::expected<int64_t> prune_ticks(int64_t age_ms, int64_t max);

 private:
  pg_session& session_;
};

}  // namespace postbox

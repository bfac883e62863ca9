// What one firing of a due schedule does: from its next tick, its policies and the
// database's now, the ticks to send or skip and the next tick (pure; the store runs it
// inside the transaction that holds the schedule's row).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace postbox {

/// A due schedule row as the firing transaction locked it (times: epoch ms).
struct schedule_due {
  std::string name;
  std::string cron;
  std::string timezone;
  std::optional<int64_t> next_tick;  // nullopt: not computed yet
  std::string on_missed = "once";    // skip | once | all
  std::string overlap = "allow";     // allow | skip
  int64_t catch_up_window = 86400000;
  bool previous_live = false;  // the last tick's message is still in the mailbox
  int64_t now = 0;             // postbox.clock_now()
};

struct planned_tick {
  int64_t tick = 0;
  std::string outcome;  // sent | skipped_missed | skipped_overlap
  int32_t missed = 0;
  bool backfilled = false;
};

struct schedule_plan {
  std::string error;  // the cron or zone cannot be evaluated: nothing else is set
  std::vector<planned_tick> ticks;
  int64_t next_tick = 0;
  std::optional<int64_t> last_tick;
  int64_t sent = 0;
  int64_t skipped = 0;
  int64_t missed = 0;  // ticks not sent on their own
};

/// A tick fired at most this late is on time (on_missed skip still sends it).
constexpr int64_t schedule_late_grace_ms = 10000;
/// At most this many ticks are sent by one firing (on_missed all); the rest next time.
constexpr size_t schedule_max_ticks_per_firing = 100;

schedule_plan plan_schedule(const schedule_due& due);

}  // namespace postbox

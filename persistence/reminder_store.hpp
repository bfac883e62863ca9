// Reminders and timers of keyed actors in the database (migration 020). What a turn
// sets, cancels and sends later is written inside its ack's transaction (apply);
// firing due ones and reading a reminder's generation are transactions of their own.
#pragma once

#include <caf/expected.hpp>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "persistence/mailbox_store.hpp"
#include "persistence/pg_session.hpp"

namespace postbox {

class tx_context;

/// A turn's ctx.remind (set) or ctx.cancel_reminder (not set), in call order.
struct reminder_write {
  bool set = true;
  std::string actor_type;
  std::string actor_key;
  std::string name;
  std::string queue;      // the actor's queue: its consumers fire it
  bool absolute = false;  // due_ms is epoch ms; else ms after the database's now()
  int64_t due_ms = 0;
  int64_t period_ms = 0;  // 0: once
  std::string on_missed = "once";
};

/// A turn's ctx.send_after: `message` sent `delay_ms` after the commit, fired by
/// consumers of `fire_queue` (the turn's queue).
struct timer_write {
  std::string fire_queue;
  int64_t delay_ms = 0;
  outgoing_message message;
  std::string set_by_type;
  std::string set_by_key;
};

/// The fired one-shot reminder a turn handles: deleted with its ack (by generation).
struct reminder_tick {
  std::string actor_type;
  std::string actor_key;
  std::string name;
  int64_t generation = 0;
};

/// What a turn writes of reminders and timers, with its ack.
struct reminder_effects {
  std::vector<reminder_write> reminders;
  std::vector<timer_write> timers;
  std::optional<reminder_tick> one_shot_done;
  bool empty() const { return reminders.empty() && timers.empty() && !one_shot_done; }
};

class reminder_store {
 public:
  explicit reminder_store(pg_session& session) : session_(session) {}

  /// Inside a turn's ack: the turn's reminder and timer writes, in order.
  static caf::error apply(tx_context& tx, const reminder_effects& e);

  /// Fires up to `max` due reminders and timers of `queue` (one transaction; never
  /// waits on a lock); how many messages it sent.
  caf::expected<int32_t> fire_due(const std::string& queue, int32_t max);
  /// The current generation of a reminder; nullopt when it does not exist (cancelled).
  caf::expected<std::optional<int64_t>> generation(const std::string& actor_type,
                                                   const std::string& actor_key,
                                                   const std::string& name);

 private:
  pg_session& session_;
};

}  // namespace postbox

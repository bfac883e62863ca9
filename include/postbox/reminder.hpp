// Reminders of keyed actors: what a reminder's turn receives, and what happens to the
// ticks missed while no node ran (ctx.remind, registry.actor<S>(...).on_reminder).
#pragma once

#include <cstdint>
#include <postbox/describe.hpp>
#include <string>

namespace postbox {

/// A periodic reminder's due times that passed while no node fired it (the cluster
/// was down): `once` sends one message for the latest of them, with `missed` = how
/// many earlier ones it stands for; `all` sends one message per due time.
enum class missed_ticks { once, all };

/// One tick of a reminder, as its actor's turn sees it (on_reminder).
struct reminder {
  std::string name;
  std::string due;         // its due time, ISO 8601 UTC ("2025-01-31T12:00:00.000Z")
  int64_t due_ms = 0;      // the same, in milliseconds since the epoch
  int64_t missed = 0;      // earlier due times this message stands for (missed_ticks::once)
  int64_t generation = 0;  // a reminder set again (or cancelled) gets a new one
};
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, reminder& x) {
  return f(caf::meta::type_name("postbox.reminder"), field("name", x.name), field("due", x.due),
           field("due_ms", x.due_ms), field("missed", x.missed), field("generation", x.generation));
}

/// The mailbox type of the reminder messages of `actor_type`.
inline std::string reminder_message_type(const std::string& actor_type) {
  return "postbox.reminder:" + actor_type;
}

}  // namespace postbox

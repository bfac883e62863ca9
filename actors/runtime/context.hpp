// The handler context is public (<postbox/context.hpp>); the runtime also builds
// the transaction that ends a success from it.
#pragma once

#include <postbox/context.hpp>

#include "persistence/handled_commit.hpp"
#include "persistence/user_sql.hpp"

namespace postbox {

/// The state a keyed actor's turn loaded (JSON text, "null" when it has none, at
/// `loaded_version`) and what the handler left in it; written with the ack when changed.
struct actor_turn {
  std::string type;
  std::string key;
  int64_t loaded_version = 0;
  std::string loaded_state = "null";
  std::string state = "null";
  /// A one-shot reminder's tick: its row is deleted with the ack.
  std::optional<reminder_tick> one_shot_done;
};

/// Whether the handler changed the turn's state (compared as JSON values).
bool state_changed(const actor_turn& turn);

/// What a handler sends and fans out, committed with its ack.
struct context_effects {
  std::vector<outgoing_message> sends;
  std::vector<fan_out_group> groups;
  reminder_effects reminders;  // ctx.remind, cancel_reminder, send_after
};

/// The success transaction of `ctx`'s delivery: ack + the handler's effects +
/// on_success with `result_json`.
success_commit commit_of(const context& ctx, const std::string& result_json);

}  // namespace postbox

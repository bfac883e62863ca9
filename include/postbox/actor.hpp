// Keyed actors: an address (type + key) that messages are sent to. Messages to one
// actor are handled one at a time, in the order their sends committed, and its state
// commits with the turn that changed it (guarantees 10 and 11).
#pragma once

#include <string>
#include <utility>

namespace postbox {

/// The address of one actor: its type (which names its queue, see
/// registry::actor) and its key, 1 to 256 bytes.
struct actor_ref {
  std::string type;
  std::string key;
};

/// `ctx.send(postbox::actor("account", "42"), deposit{...})`.
inline actor_ref actor(std::string type, std::string key) {
  return actor_ref{std::move(type), std::move(key)};
}

}  // namespace postbox

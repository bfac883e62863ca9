// The supervisor's children, described so the restart logic can be exercised
// with stand-ins (deterministic tests) as well as with the node's real actors.
#pragma once

#include <caf/fwd.hpp>
#include <chrono>
#include <functional>
#include <string>
#include <vector>

namespace postbox {

struct child_spec {
  std::string name;
  /// Consumers get drain_atom on drain and may finish what they hold; the
  /// others are stopped with exit_reason::user_shutdown.
  bool consumer = false;
  /// Spawns the child; `consumers` are the live consumer handles (the listener needs them).
  std::function<caf::actor(caf::actor_system&, const std::vector<caf::actor>& consumers)> start;
};

/// Restart delay after the n-th consecutive crash (0-based): 200ms * 2^n, at most 10s.
std::chrono::milliseconds restart_delay(int crashes);

/// A supervisor over `children` (started in order; `name` labels its log lines).
caf::actor spawn_supervisor_of(caf::actor_system& sys, std::string name,
                               std::vector<child_spec> children);

}  // namespace postbox

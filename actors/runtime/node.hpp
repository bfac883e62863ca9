// Runs one node of a topology until SIGTERM/SIGINT drains it.
#pragma once

#include <string>

#include "actors/runtime/handler_registry.hpp"

namespace postbox {

struct node_options {
  std::string topology_path;
  std::string node_name;
  std::string dsn;  // overrides database.dsn of the topology when set
};

/// Loads the topology, migrates, runs the node's actors with `handlers` (by message
/// type); returns the exit code (0 after a clean drain, 1 on a runtime failure, 2 on
/// bad input). The stock postbox-node is this call with the file pipeline registered.
int run_node(const node_options& opts, handler_registry handlers);

}  // namespace postbox

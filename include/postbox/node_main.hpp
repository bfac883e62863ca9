// A node as a library call: a user's main() builds a registry and hands it here.
#pragma once

#include <postbox/handler_registry.hpp>

namespace postbox {

/// Parses `--topology FILE --node NAME [--dsn DSN]` (POSTBOX_TOPOLOGY fills the
/// first) exactly as postbox-node does and runs that node with `handlers` until
/// SIGTERM drains it. Returns the process exit code (0 after a clean drain, 1 on a
/// runtime failure, 2 on bad input). The stock postbox-node is
/// `node_main(argc, argv, pipeline_handlers())`.
int node_main(int argc, char** argv, handler_registry handlers);

}  // namespace postbox

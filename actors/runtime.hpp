// What every actor of a node shares: the topology, which node this is, the DSN
// and the processors. Immutable once the node starts.
#pragma once

#include <chrono>
#include <memory>
#include <string>

#include "actors/processors/processor.hpp"
#include "config/topology.hpp"

namespace postbox {

struct runtime_config {
  topology topo;
  std::string node_name;
  std::string dsn;
  processor_registry processors = processor_registry::with_builtins();
  /// How long the listener blocks per wait (also its shutdown latency).
  std::chrono::milliseconds listen_wait{500};
  /// Heartbeat period of the nodes row.
  std::chrono::milliseconds heartbeat_interval{2000};
  /// Poll period of the outbox dispatcher.
  std::chrono::milliseconds outbox_interval{500};

  const node_config& node() const { return *topo.node(node_name); }
};

using runtime_ptr = std::shared_ptr<const runtime_config>;

}  // namespace postbox

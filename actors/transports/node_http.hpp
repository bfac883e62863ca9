// The node's HTTP endpoint: /healthz (503 when a consumer loop is stale),
// /metrics (Prometheus text: this node's counters and the cluster's queues),
// and / (a small dashboard that refreshes itself).
#pragma once

#include <caf/expected.hpp>
#include <memory>

#include "actors/runtime/runtime_config.hpp"

namespace postbox {

class http_server;

/// Starts the endpoint on the node's host and http_port; an error names the port.
caf::expected<std::unique_ptr<http_server>> start_node_http(runtime_ptr rt);

}  // namespace postbox

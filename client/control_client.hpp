// The client side of the control plane: a CAF actor system with the middleman,
// a blocking (scoped) actor that asks a node's control actor, and live watch.
// Every request has a deadline; when no node answers, callers fall back to
// Postgres (the source of truth).
#pragma once

#include <caf/expected.hpp>
#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "config/topology.hpp"
#include "persistence/execution_store.hpp"

namespace postbox {

class inspect_store;

struct control_target {
  std::string node;
  std::string host;
  uint16_t port = 0;
};

/// Where control actors are: the topology's nodes with a control_port, else the
/// live nodes (fresh heartbeat) of the nodes table that published one.
std::vector<control_target> control_targets(const topology* topo, inspect_store& inspect);

/// The token a client presents: control.token_env / token_file of the topology,
/// else $POSTBOX_CONTROL_TOKEN.
std::string client_control_token(const topology* topo);

class control_client {
 public:
  control_client(control_config cfg, std::string token);
  ~control_client();

  /// Connects to the first target that answers; returns its node name.
  caf::expected<std::string> connect(const std::vector<control_target>& targets);
  caf::expected<std::string> info();
  caf::expected<std::string> pause(const std::string& queue);
  caf::expected<std::string> resume(const std::string& queue);
  caf::expected<std::string> drain();
  /// Pushed progress until the execution is terminal; an error (unreachable,
  /// timeout, unauthorized) lets the caller fall back to polling.
  caf::expected<execution_record> watch(
      const std::string& execution_id,
      const std::function<void(const execution_record&)>& progress);

 private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

}  // namespace postbox

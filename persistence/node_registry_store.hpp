// The nodes table: each node registers itself and refreshes a heartbeat, so
// operators (and `postbox nodes`) can tell live nodes from stale ones.
#pragma once

#include <caf/expected.hpp>
#include <chrono>
#include <string>
#include <vector>

#include "persistence/pg_session.hpp"

namespace postbox {

struct node_registration {
  std::string name;
  std::string host;
  int32_t control_port = 0;
  int32_t http_port = 0;
  std::vector<std::string> roles;
  int32_t pid = 0;
  /// "name:pid:start-ms" (runtime_config::incarnation); empty: not recorded.
  std::string incarnation;
  std::vector<std::string> handled_types;  // what its handler registry handles
};

/// What registering a node's name found.
struct node_claim {
  bool registered = false;  // this process holds the name now
  // The holder before this call (when there was a row): who refused us, if anyone.
  int32_t holder_pid = 0;
  std::string holder_host;
  double heartbeat_age_s = 0;
};

class node_registry_store {
 public:
  explicit node_registry_store(pg_session& session) : session_(session) {}

  /// Registers `node` (heartbeat_at = now()) unless another process holds its name
  /// with a heartbeat fresher than `fresh_within`; one atomic statement.
  caf::expected<node_claim> register_node(const node_registration& node,
                                          std::chrono::milliseconds fresh_within);

  /// The name of a node of `among` (the topology's node names) whose registry handles
  /// `type` on `queue` ("" when none does).
  caf::expected<std::string> node_handling(const std::string& queue, const std::string& type,
                                           const std::vector<std::string>& among);

  /// The types handled on a queue by a set of nodes (see types_on_queue).
  struct queue_types {
    std::vector<std::string> types;  // sorted, distinct
    int64_t unregistered = 0;        // names of the set with no nodes row yet
    int64_t registered = 0;          // nodes of the set with a row
  };
  /// The types that the nodes named `among` (empty: every registered node) handle on
  /// `queue`, as their registrations recorded them.
  caf::expected<queue_types> types_on_queue(const std::string& queue,
                                            const std::vector<std::string>& among);

  /// Upserts the row and sets heartbeat_at = now(); idempotent.
  caf::error heartbeat(const node_registration& node);

  /// One workflow of a node's topology, as postbox.submit (SQL) checks it.
  struct workflow_row {
    std::string name;
    std::string processor;
    int32_t batch_size = 10;
  };
  /// Records the workflows of `node`'s topology (postbox.workflows).
  caf::error record_workflows(const std::string& node, const std::vector<workflow_row>& rows);

 private:
  pg_session& session_;
};

}  // namespace postbox

// The nodes table: each node registers itself and refreshes a heartbeat, so
// operators (and `postbox nodes`) can tell live nodes from stale ones.
#pragma once

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
};

class node_registry_store {
 public:
  explicit node_registry_store(pg_session& session) : session_(session) {}

  /// Upserts the row and sets heartbeat_at = now(); idempotent.
  caf::error heartbeat(const node_registration& node);

 private:
  pg_session& session_;
};

}  // namespace postbox

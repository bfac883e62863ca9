// Cluster-wide limits (migration 025): the topology's limits written to postbox.limits
// and their slots, at node start. The claim under limits is mailbox_store::read.
#pragma once

#include <caf/error.hpp>

#include "config/topology.hpp"
#include "persistence/pg_session.hpp"

namespace postbox {

class limit_store {
 public:
  explicit limit_store(pg_session& session) : session_(session) {}

  /// Upserts every queue limit and key limit of `topo` with their slots and removes
  /// the limits it does not name, in one transaction.
  caf::error sync(const topology& topo);

 private:
  pg_session& session_;
};

}  // namespace postbox

// What every actor of a node shares: the topology, which node this is, the DSN
// and the processors. Immutable once the node starts.
#pragma once

#include <algorithm>
#include <chrono>
#include <memory>
#include <string>

#include "actors/runtime/actor_cache.hpp"
#include "actors/runtime/handler_registry.hpp"
#include "actors/runtime/node_metrics.hpp"
#include "actors/runtime/solo_gate.hpp"
#include "config/topology.hpp"
#include "persistence/group_committer.hpp"
#include "persistence/pg_session.hpp"
#include "persistence/session_pool.hpp"

namespace postbox {

struct runtime_config {
  topology topo;
  std::string node_name;
  /// This node process: "name:pid:start-ms". A suspect it ran alone and reads back
  /// itself (its lease lost to a database outage) is not charged a crash.
  std::string incarnation;
  std::string dsn;
  /// The handlers this node runs, by (queue, type).
  handler_registry handlers;
  /// How long the listener blocks per wait (also its shutdown latency).
  std::chrono::milliseconds listen_wait{500};
  /// Heartbeat period of the nodes row.
  std::chrono::milliseconds heartbeat_interval{2000};
  /// Poll period of the outbox dispatcher.
  std::chrono::milliseconds outbox_interval{500};
  /// Shared by the node's actors and its HTTP endpoint.
  std::shared_ptr<node_metrics> metrics = std::make_shared<node_metrics>();
  /// Suspects run alone on the whole node, whichever queue they come from.
  std::shared_ptr<solo_gate> solo = std::make_shared<solo_gate>();
  /// Keyed actors' states by version, shared by the node's workers.
  std::shared_ptr<actor_state_cache> actor_cache = std::make_shared<actor_state_cache>();
  /// The sessions the node's consumers claim, renew and fail through (database.pool of
  /// them, made on first need): set by run_node once the DSN is known.
  std::shared_ptr<session_pool> consumer_pool;
  /// Commits the node's handled deliveries in groups (database.group_commit); null when
  /// off: each worker commits its own on its session.
  std::shared_ptr<group_committer> committer;

  const node_config& node() const { return *topo.node(node_name); }

  /// A node process whose heartbeat is older than this is gone: its name may be taken
  /// over, and a suspect it ran alone is charged the crash.
  std::chrono::milliseconds node_alive_within() const { return 3 * heartbeat_interval; }

  /// Options for one of this node's connections. Transactions are short, so a
  /// session idle inside one longer than the smallest visibility timeout is a
  /// frozen node: the server ends it and its row locks, so leases can move on.
  /// A `statement_timeout` above 0 bounds every statement of the connection.
  session_options session(const std::string& application_name,
                          std::chrono::milliseconds statement_timeout = {}) const {
    session_options o{dsn, application_name};
    o.statement_timeout = statement_timeout;
    for (const auto& q : topo.queues)
      o.idle_in_transaction_timeout =
          std::min(o.idle_in_transaction_timeout, q.second.visibility_timeout);
    if (topo.database.pooler == "transaction") {
      o.prepared_statements = false;  // lost between transactions
      // A session SET would leak to other clients: per transaction instead.
      o.local_idle_in_transaction_timeout = o.idle_in_transaction_timeout;
      o.idle_in_transaction_timeout = std::chrono::milliseconds(0);
      o.local_statement_timeout = o.statement_timeout;
      o.statement_timeout = std::chrono::milliseconds(0);
      o.server_keepalives = false;
    }
    return o;
  }
};

using runtime_ptr = std::shared_ptr<const runtime_config>;

}  // namespace postbox

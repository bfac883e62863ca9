// The queue consumer, separated from where its deliveries come from, so its
// protocol (claim for idle workers, renew every vt/3, poison past max_attempts,
// run suspects alone, fail a handler past max_handler_time, charge a crashed
// worker's delivery without ever waiting on a row lock, drain within drain_timeout) runs under
// CAF's deterministic coordinator with an in-memory backend as well as on PostgreSQL.
#pragma once

#include <caf/fwd.hpp>
#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "actors/runtime/solo_gate.hpp"
#include "config/topology.hpp"
#include "persistence/mailbox_store.hpp"

namespace postbox {

class node_metrics;

/// What a consumer needs from the mailbox. Runs on the consumer's thread.
class consumer_backend {
 public:
  virtual ~consumer_backend() = default;
  virtual caf::expected<std::vector<delivery>> claim(int max) = 0;
  virtual caf::error renew(const lease& l) = 0;
  /// Renews every lease in `ls`; the message ids whose lease is lost. One statement
  /// where the backend can (the default renews them one by one).
  virtual caf::expected<std::vector<int64_t>> renew_all(const std::vector<lease>& ls) {
    std::vector<int64_t> lost;
    for (const auto& l : ls) {
      auto err = renew(l);
      if (is(err, errc::lease_lost))
        lost.push_back(l.message_id);
      else if (err)
        return err;
    }
    return lost;
  }
  /// Makes `d` visible again without charging it an attempt (a drain). Never waits on
  /// a row lock: a row another transaction holds is left to its lease.
  virtual void give_back(const delivery& d, const std::string& why) = 0;
  /// A failed attempt charged to `d` (its worker crashed, it ran past
  /// max_handler_time): visible again after a backoff. Never waits on a row lock (the
  /// stuck handler's own transaction may hold it, behind a cancel): false when the row
  /// is locked, and the consumer tries again on its next tick; true when done, or when
  /// there is nothing left to fail (the lease is lost).
  virtual bool fail(const delivery& d, const std::string& reason) = 0;
  /// `d` (a suspect) is about to run alone on this node: a crash now is its own.
  virtual caf::error mark_running_alone(const delivery& d) = 0;
  /// Dead-letters `d` (execution ERROR, on_error); returns what happened, for the log.
  virtual std::string poison(const delivery& d, const std::string& reason) = 0;
};

struct consumer_params {
  std::string queue;
  std::string owner;  // "node/queue", for logs and leases
  queue_config qc;
  int concurrency = 1;
  /// Created on the consumer's own thread (a database session is per thread).
  std::function<std::unique_ptr<consumer_backend>()> backend;
  /// Spawns worker `index`; a worker answers each delivery with (done_atom, index, id).
  std::function<caf::actor(caf::actor_system&, int index)> spawn_worker;
  std::shared_ptr<node_metrics> metrics;  // optional
  /// Shared by every consumer of the node (one is made when not given).
  std::shared_ptr<solo_gate> gate;
  /// After a drain begins, deliveries still running this long are given back.
  std::chrono::milliseconds drain_timeout{30000};
  /// Whether an idle consumer polls on its own every poll_interval. False on a node, whose
  /// ready probe polls once for all its queues and wakes this consumer when it has work.
  bool idle_poll = true;
};

/// `detached` for production (database calls block); false under the test coordinator.
caf::actor spawn_consumer_with(caf::actor_system& sys, consumer_params params, bool detached);

}  // namespace postbox

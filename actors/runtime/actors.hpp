// Spawn functions of the node's actors. This header stays light (caf/fwd.hpp):
// only the .cpp files include caf/all.hpp.
#pragma once

#include <caf/fwd.hpp>
#include <chrono>
#include <string>
#include <vector>

#include "actors/runtime/runtime_config.hpp"
#include "persistence/schedule_store.hpp"

namespace postbox {

/// A queue consumer for `role` (orchestrator, file_batch, callback) with its workers.
caf::actor spawn_consumer(caf::actor_system& sys, runtime_ptr rt, actor_config role);

/// A worker: runs handle_delivery for each delivery the consumer sends it.
/// `program`: the external program whose process this worker starts at once ("" none).
caf::actor spawn_worker(caf::actor_system& sys, runtime_ptr rt, std::string owner, int index,
                        std::string program = "");

/// LISTEN/NOTIFY wake-ups for the given consumers.
caf::actor spawn_listener(caf::actor_system& sys, runtime_ptr rt, std::vector<caf::actor> targets);

/// The node's one idle poll for all its queues: wakes the consumers of queues with work.
caf::actor spawn_ready_probe(caf::actor_system& sys, runtime_ptr rt,
                             std::vector<caf::actor> targets);
/// The queues the probe covers (every queue this node consumes), and how often it looks
/// (the shortest poll_interval among them).
std::vector<std::string> probed_queues(const runtime_config& rt);
std::chrono::milliseconds probe_interval(const runtime_config& rt);

/// Registers the node in `nodes` and refreshes its heartbeat.
caf::actor spawn_heartbeat(caf::actor_system& sys, runtime_ptr rt);

/// The outbox dispatcher (webhooks, usage records).
caf::actor spawn_outbox(caf::actor_system& sys, runtime_ptr rt);

/// The reaper (one leader per cluster at a time).
caf::actor spawn_reaper(caf::actor_system& sys, runtime_ptr rt);

/// The queues this node consumes that serve keyed actor types (whose reminders and
/// timers it fires).
std::vector<std::string> reminder_queues(const runtime_config& rt);
/// Fires the due reminders and timers of `queues` on a timer of its own.
caf::actor spawn_reminder_firer(caf::actor_system& sys, runtime_ptr rt,
                                std::vector<std::string> queues);

/// The topology's schedules as the schedule store declares them.
std::vector<schedule_definition> schedule_definitions(const topology& topo);
/// Declares the topology's schedules and fires every due schedule of the cluster.
caf::actor spawn_schedule_firer(caf::actor_system& sys, runtime_ptr rt);

/// The node supervisor: spawns what the topology gives this node, restarts what
/// crashes with exponential backoff, drains on drain_atom and then quits.
caf::actor spawn_supervisor(caf::actor_system& sys, runtime_ptr rt);

}  // namespace postbox

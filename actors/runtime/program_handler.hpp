// External programs as handlers: for each program a node runs (`{ program: NAME }`),
// its types on its queue are handled by a process of it that each worker keeps.
// postbox does the leasing, renewal, retries, poison handling, continuations and
// fan-in; the program only answers one line per message.
#pragma once

#include <caf/expected.hpp>

#include "actors/runtime/handler_registry.hpp"
#include "config/topology.hpp"

namespace postbox {

/// Registers the programs node `node` runs into `handlers` (for their queue and types,
/// replacing a compiled handler of the same type there). Fails, naming the program,
/// when one cannot be found on PATH.
caf::error register_programs(handler_registry& handlers, const topology& topo,
                             const std::string& node);

/// The handler that feeds one program's messages to the worker's process of it.
handler_fn program_handler(const program_config& program);

/// Between messages, for the worker's process of `program` (the one the handler above
/// uses): starts it if none runs (so its own start-up is not spent from a message's
/// max_handler_time), logs its stderr and notices that it died. A worker of a program
/// calls it when it starts and every second while idle.
void tend_program(handler_context& worker, const program_config& program);

}  // namespace postbox

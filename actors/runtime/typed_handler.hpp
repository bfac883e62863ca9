// Typed handlers are public (<postbox/typed_handler.hpp>); the runtime ends a
// handled delivery as its outcome says.
#pragma once

#include <postbox/typed_handler.hpp>

#include "actors/runtime/context.hpp"
#include "actors/runtime/dispatch.hpp"

namespace postbox {

/// Commits a success (ack + the context's effects + on_success + group arrival),
/// charges a failure, or dead-letters a rejection (with on_error).
handler_result finish_handled(handler_context& hc, const delivery& d, const context& ctx,
                              const outcome& o);

}  // namespace postbox

// Adapts a typed handler `outcome(context&, const T&)` to the dispatcher: decode
// the body (undecodable: dead-lettered at once, naming the field), run the handler
// (a throw is a failed attempt), then end the delivery as the outcome says.
#pragma once

#include <exception>
#include <string>
#include <utility>

#include "actors/runtime/context.hpp"
#include "actors/runtime/dispatch.hpp"
#include "actors/runtime/outcome.hpp"
#include "messages/describe.hpp"

namespace postbox {

/// Commits a success (ack + the context's effects + on_success + group arrival),
/// charges a failure, or dead-letters a rejection (with on_error).
handler_result finish_handled(handler_context& hc, const delivery& d, const context& ctx,
                              const outcome& o);

/// Runs `fn` and turns what it throws into a failed attempt.
template <class F, class... Args>
outcome run_guarded(F& fn, Args&... args) {
  try {
    return fn(args...);
  } catch (const std::exception& e) {
    return outcome::fail(std::string("threw: ") + e.what());
  } catch (...) {
    return outcome::fail("threw an exception that is not a std::exception");
  }
}

template <class T, class F>
handler_fn typed_handler(F fn) {
  return [fn = std::move(fn)](handler_context& hc, const delivery& d) mutable -> handler_result {
    auto body = decode_json<T>(d.payload);
    if (!body)
      return poison(hc, d, "undecodable body for type '" + d.type + "': " + describe(body.error()));
    context ctx(hc, d);
    T& value = *body;
    outcome o = run_guarded(fn, ctx, value);
    return finish_handled(hc, d, ctx, o);
  };
}

}  // namespace postbox

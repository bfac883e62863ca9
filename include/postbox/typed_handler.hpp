// Adapts a typed handler `outcome(context&, const T&)` to the dispatcher: decode
// the body (undecodable: dead-lettered at once, naming the field), run the handler
// (a throw is a failed attempt), then end the delivery as the outcome says.
#pragma once

#include <caf/expected.hpp>
#include <exception>
#include <functional>
#include <postbox/context.hpp>
#include <postbox/describe.hpp>
#include <postbox/error.hpp>
#include <postbox/handler_registry.hpp>
#include <postbox/outcome.hpp>
#include <string>
#include <utility>

namespace postbox {

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

/// A decoded body bound to the user's function, ready to run on a context.
using decoded_call = std::function<outcome(context&)>;
/// Decodes a message body (JSON text) into a call, or says which field is wrong.
using body_decoder = std::function<caf::expected<decoded_call>(const std::string& payload)>;

/// The dispatcher's handler around `decode`: an undecodable body is dead-lettered at
/// once; a decoded one runs on a fresh context and its outcome ends the delivery.
handler_fn make_typed_handler(body_decoder decode);

/// A keyed actor's decoded call: runs on the turn's context with the actor's state as
/// JSON text ("null" when it has none), which it leaves changed on success.
using actor_call = std::function<outcome(context&, std::string& state_json)>;
using actor_body_decoder = std::function<caf::expected<actor_call>(const std::string& payload)>;

/// The dispatcher's handler of a keyed actor type: a message not addressed to an actor
/// of `actor_type` is poisoned; the state is loaded (from the node's cache when its
/// version is current), the call runs, and a changed state commits with the ack.
handler_fn make_actor_handler(std::string actor_type, actor_body_decoder decode);

/// `fn(context&, S& state, const T& message)` as a keyed actor's handler of T.
template <class S, class T, class F>
handler_fn actor_handler(std::string actor_type, F fn) {
  return make_actor_handler(
      actor_type,
      [actor_type,
       fn = std::move(fn)](const std::string& payload) mutable -> caf::expected<actor_call> {
        auto body = decode_json<T>(payload);
        if (!body) return std::move(body.error());
        return actor_call([&fn, &actor_type, value = std::move(*body)](
                              context& ctx, std::string& state_json) mutable -> outcome {
          S state{};
          if (state_json != "null") {
            auto loaded = decode_json<S>(state_json);
            if (!loaded)
              return outcome::fail("the state of actor " + actor_type + "/" + ctx.actor_key() +
                                   " does not decode: " + describe(loaded.error()));
            state = std::move(*loaded);
          }
          outcome o = run_guarded(fn, ctx, state, value);
          if (o.what() == outcome::kind::ok) {
            // A state equal to a new actor's is no state ("null", stored as NULL), so an
            // actor that keeps nothing can be retired when idle.
            state_json = encode_json(state);
            if (state_json == encode_json(S{})) state_json = "null";
          }
          return o;
        });
      });
}

template <class T, class F>
handler_fn typed_handler(F fn) {
  // The call runs before the decoder returns to the dispatcher, so it may refer to
  // the decoder's own copy of `fn`.
  return make_typed_handler(
      [fn = std::move(fn)](const std::string& payload) mutable -> caf::expected<decoded_call> {
        auto body = decode_json<T>(payload);
        if (!body) return std::move(body.error());
        return decoded_call([&fn, value = std::move(*body)](context& ctx) mutable {
          return run_guarded(fn, ctx, value);
        });
      });
}

}  // namespace postbox

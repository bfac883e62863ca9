// The public registry: typed handlers by (queue, type). A handler is any callable
// `postbox::outcome(postbox::context&, const T&)` where T is a described struct
// (<postbox/describe.hpp>); the mailbox type is T's type name.
#pragma once

#include <postbox/handler_registry.hpp>
#include <postbox/reminder.hpp>
#include <postbox/typed_handler.hpp>
#include <string>
#include <utility>

namespace postbox {

template <class S>
class actor_handlers;

class registry : public handler_registry {
 public:
  registry() = default;
  /// Starts from another registry's handlers (e.g. pipeline_handlers()).
  explicit registry(handler_registry base) : handler_registry(std::move(base)) {}

  /// Handles messages of T's type on any queue.
  template <class T, class F>
  registry& on(F fn) {
    add(type_name_of<T>(), typed_handler<T>(std::move(fn)));
    return *this;
  }
  /// Handles messages of T's type on `queue` only.
  template <class T, class F>
  registry& on(const std::string& queue, F fn) {
    add(queue, type_name_of<T>(), typed_handler<T>(std::move(fn)));
    return *this;
  }
  /// A keyed actor type whose messages go to `queue` and whose state is S (a described
  /// struct, default-constructed for a new actor): `registry.actor<account>("account",
  /// "accounts").on<deposit>(fn).on<withdraw>(fn2)`, each fn
  /// `outcome(context&, S& state, const T& message)`. One turn at a time per key, in
  /// the order the sends committed; the state S commits with the turn's ack.
  template <class S>
  actor_handlers<S> actor(const std::string& actor_type, const std::string& queue) {
    add_actor_type(actor_type, queue);
    return actor_handlers<S>(*this, actor_type, queue);
  }
  /// Handles messages of `type` with a free-form JSON body (json_text holds it whole).
  template <class F>
  registry& on_json(const std::string& type, F fn) {
    add(type, raw_json_handler(std::move(fn)));
    return *this;
  }

 private:
  template <class F>
  static handler_fn raw_json_handler(F fn) {
    return make_typed_handler(
        [fn = std::move(fn)](const std::string& payload) mutable -> caf::expected<decoded_call> {
          return decoded_call([&fn, body = json_text{payload}](context& ctx) mutable {
            return run_guarded(fn, ctx, body);
          });
        });
  }
};

/// The handlers of one keyed actor type (registry::actor).
template <class S>
class actor_handlers {
 public:
  actor_handlers(registry& r, std::string actor_type, std::string queue)
      : registry_(r), actor_type_(std::move(actor_type)), queue_(std::move(queue)) {}
  /// Handles messages of T's type sent to this actor type:
  /// `outcome fn(context&, S& state, const T& message)`.
  template <class T, class F>
  actor_handlers& on(F fn) {
    registry_.add(queue_, type_name_of<T>(), actor_handler<S, T>(actor_type_, std::move(fn)));
    return *this;
  }
  /// Handles the ticks of this actor type's reminders (ctx.remind):
  /// `outcome fn(context&, S& state, const postbox::reminder& tick)`, a turn like any
  /// other. A tick of a reminder cancelled or set again before its turn never runs.
  template <class F>
  actor_handlers& on_reminder(F fn) {
    registry_.add(queue_, reminder_message_type(actor_type_),
                  actor_handler<S, reminder>(actor_type_, std::move(fn)));
    return *this;
  }
  registry& done() { return registry_; }

 private:
  registry& registry_;
  std::string actor_type_;
  std::string queue_;
};

}  // namespace postbox

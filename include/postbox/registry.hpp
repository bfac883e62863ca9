// The public registry: typed handlers by (queue, type). A handler is any callable
// `postbox::outcome(postbox::context&, const T&)` where T is a described struct
// (<postbox/describe.hpp>); the mailbox type is T's type name.
#pragma once

#include <postbox/handler_registry.hpp>
#include <postbox/typed_handler.hpp>
#include <string>
#include <utility>

namespace postbox {

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

}  // namespace postbox

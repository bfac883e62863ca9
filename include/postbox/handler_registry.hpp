// Which handler runs a message: by (queue, type), or by type on any queue. A node
// runs the registry it is given; the stock postbox-node registers the file
// pipeline. Handlers run on detached workers, one delivery at a time, and answer
// with what became of the delivery. The typed, public face of this is
// postbox::registry (<postbox/registry.hpp>); the file pipeline registers
// itself with register_pipeline (actors/pipeline/pipeline.hpp).
#pragma once

#include <functional>
#include <map>
#include <set>
#include <string>
#include <utility>
#include <vector>

namespace postbox {

struct handler_context;  // internal: what the runtime lends a handler
struct handler_result;   // internal: what became of a delivery
struct delivery;         // internal: one claimed mailbox row

/// Handles one delivery end to end: its effect and its ack in one transaction, or a
/// failure (retried, charged) or a dead letter. Must not throw (a throw is a failure).
using handler_fn = std::function<handler_result(handler_context&, const delivery&)>;

class handler_registry {
 public:
  /// Registers `fn` for messages of `type` on any queue; a second registration replaces it.
  handler_registry& add(const std::string& type, handler_fn fn) {
    return add("", type, std::move(fn));
  }
  /// Registers `fn` for messages of `type` on `queue` only ("" = any queue).
  handler_registry& add(const std::string& queue, const std::string& type, handler_fn fn) {
    handlers_[{queue, type}] = std::move(fn);
    return *this;
  }
  /// The handler of `type` on `queue` (one registered for that queue first), or nullptr.
  const handler_fn* find(const std::string& queue, const std::string& type) const {
    auto it = handlers_.find({queue, type});
    if (it == handlers_.end()) it = handlers_.find({"", type});
    return it == handlers_.end() ? nullptr : &it->second;
  }
  /// The types with a handler for messages on `queue` (for it, or for any queue).
  std::vector<std::string> types_for(const std::string& queue) const {
    std::set<std::string> out;
    for (const auto& [key, _] : handlers_)
      if (key.first.empty() || key.first == queue) out.insert(key.second);
    return {out.begin(), out.end()};
  }
  /// Declares an actor type (keyed actors): its messages go to `queue`; the node records
  /// it in postbox.actor_types so senders that name no queue find it.
  handler_registry& add_actor_type(const std::string& actor_type, const std::string& queue) {
    actor_types_[actor_type] = queue;
    return *this;
  }
  /// The actor types declared, with their queues.
  const std::map<std::string, std::string>& actor_types() const { return actor_types_; }
  /// Every type with a handler (on some queue), each once.
  std::vector<std::string> types() const {
    std::set<std::string> out;
    for (const auto& [key, _] : handlers_) out.insert(key.second);
    return {out.begin(), out.end()};
  }

 private:
  std::map<std::pair<std::string, std::string>, handler_fn> handlers_;
  std::map<std::string, std::string> actor_types_;
};

}  // namespace postbox

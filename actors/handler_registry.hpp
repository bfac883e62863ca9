// Which handler runs a message, by its type: the first seam of the runtime API
// (issue 11). A node runs the registry it is given; the stock postbox-node
// registers the file pipeline. Handlers run on detached workers, one delivery at
// a time, and answer with what became of the delivery.
#pragma once

#include <functional>
#include <map>
#include <string>
#include <vector>

#include "persistence/mailbox_store.hpp"

namespace postbox {

struct handler_context;
struct handler_result;

/// Handles one delivery end to end: its effect and its ack in one transaction, or a
/// failure (retried, charged) or a dead letter. Must not throw (a throw is a failure).
using handler_fn = std::function<handler_result(handler_context&, const delivery&)>;

class handler_registry {
 public:
  /// Registers `fn` for messages of `type`; a second registration of a type replaces it.
  handler_registry& add(const std::string& type, handler_fn fn) {
    handlers_[type] = std::move(fn);
    return *this;
  }
  /// The handler of `type`, or nullptr.
  const handler_fn* find(const std::string& type) const {
    auto it = handlers_.find(type);
    return it == handlers_.end() ? nullptr : &it->second;
  }
  std::vector<std::string> types() const {
    std::vector<std::string> out;
    for (const auto& [type, _] : handlers_) out.push_back(type);
    return out;
  }

 private:
  std::map<std::string, handler_fn> handlers_;
};

/// The file pipeline's handlers: execute_workflow, process_file_batch, execution_callback.
void register_pipeline(handler_registry& registry);

/// A registry with the file pipeline registered (what the stock postbox-node runs).
handler_registry pipeline_handlers();

}  // namespace postbox

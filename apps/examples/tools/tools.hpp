// The executor example (seed 003): an `executor` queue runs tools, and the
// caller's on_success / on_error continuations land on `tool_callbacks`, whose
// handlers record each call's outcome in the example's own table (schema.sql)
// in the transaction that acks the continuation.
#pragma once

#include <postbox/postbox.hpp>
#include <string>
#include <vector>

namespace tools {

/// Runs one tool on its input. Sent to queue `executor`.
struct tool_call {
  std::string tool;   // "wordcount", "upper" or "sleep"; anything else fails
  std::string input;  // the text the tool works on
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, tool_call& x) {
  return f(caf::meta::type_name("tool_call"), postbox::field("tool", x.tool),
           postbox::field("input", x.input));
}

/// on_success of a tool_call: the caller's payload (call_id) plus the tool's result.
struct tool_done {
  std::string call_id;
  postbox::json_text result;
  int64_t message_id = 0;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, tool_done& x) {
  return f(caf::meta::type_name("tool_done"), postbox::field("call_id", x.call_id),
           postbox::field("result", x.result), postbox::field("message_id", x.message_id));
}

/// on_error of a tool_call: the caller's payload (call_id) plus the real error text.
struct tool_failed {
  std::string call_id;
  std::string error;
  int64_t message_id = 0;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, tool_failed& x) {
  return f(caf::meta::type_name("tool_failed"), postbox::field("call_id", x.call_id),
           postbox::field("error", x.error), postbox::field("message_id", x.message_id));
}

/// Runs many tool calls at once (Celery's chord): every call, and every nested
/// batch, is a child of one group; `batch_done` gets all their outcomes once.
struct tool_batch {
  std::string call_id;
  std::vector<tool_call> calls;
  std::vector<tool_batch> batches;  // nested groups: the outer one waits for each
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, tool_batch& x) {
  return f(caf::meta::type_name("tool_batch"), postbox::field("call_id", x.call_id),
           postbox::field("calls", x.calls), postbox::field("batches", x.batches));
}

/// The fan-in of a tool_batch: the runtime adds `group` and `results`.
struct batch_done {
  std::string call_id;
  std::string group;
  postbox::json_text results;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, batch_done& x) {
  return f(caf::meta::type_name("batch_done"), postbox::field("call_id", x.call_id),
           postbox::field("group", x.group), postbox::field("results", x.results));
}

/// Registers tool_call and tool_batch (queue executor); tool_done, tool_failed and
/// batch_done (queue tool_callbacks).
void register_tools(postbox::registry& registry);

}  // namespace tools

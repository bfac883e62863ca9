// The project's message vocabulary: plain structs that travel as CAF messages and, as JSON,
// through the durable mailbox. Each struct has its CAF 0.17 `inspect` right below it.
#pragma once

#include <caf/meta/type_name.hpp>
#include <cstdint>
#include <postbox/actor.hpp>
#include <postbox/dedup.hpp>
#include <string>
#include <utility>
#include <vector>

namespace postbox {

// Names stored in the mailbox `type` column; the dispatcher picks a decoder by them.
inline constexpr const char* execute_workflow_type = "execute_workflow";
inline constexpr const char* process_file_batch_type = "process_file_batch";
inline constexpr const char* execution_callback_type = "execution_callback";

// Queues the file pipeline sends to (the consumer roles' default queues). The topology
// loader refuses a cluster with workflows in which no node consumes one of them.
inline constexpr const char* orchestrator_queue = "orchestrator";
inline constexpr const char* file_batch_queue = "file_batch";
inline constexpr const char* callback_queue = "callback";
inline constexpr const char* pipeline_queues[] = {orchestrator_queue, file_batch_queue,
                                                  callback_queue};

/// A message to enqueue later (e.g. when the current one succeeds or fails): to `queue`,
/// or to an actor (`actor_type` + `actor_key`, JSON key "actor": {"type", "key"}) as a
/// keyed message of that actor (queue then optional: the actor type's).
struct continuation {
  std::string queue;
  std::string type;
  std::string payload = "{}";  // JSON text of an object
  /// Fired when its execution ends (the execution's own, copied by the orchestrator onto
  /// its batches and callback): new work, enqueued outside the execution (no envelope
  /// execution_id), and the execution's on_error goes once however many messages carry
  /// it. JSON key "ends_execution", written only when true.
  bool ends_execution = false;
  /// To an actor: its turn, in the order of the sends to it. Both set or neither.
  std::string actor_type{};
  std::string actor_key{};
  /// Dedup (include/postbox/dedup.hpp): JSON "dedup_key", "dedup_mode", "dedup_ttl_ms",
  /// written only when a key is set. Empty: none.
  std::string dedup_key{};
  std::string dedup_mode{};  // "" or until_done, ttl, replace
  int64_t dedup_ttl_ms = 0;
  /// Counted against topology `limits.<limit_key>` when enqueued (JSON key "limit_key",
  /// written only when set); empty: none.
  std::string limit_key{};
  /// Its tier (postbox::priority, 0 low .. 3 urgent); -1: its type's default. JSON key
  /// "priority" (a tier's name), written only when set.
  int16_t priority = -1;

  /// `type` with `payload` (a JSON object) to actor `to`, in its turn.
  static continuation to(const actor_ref& to, std::string type, std::string payload = "{}") {
    continuation c;
    c.type = std::move(type);
    c.payload = std::move(payload);
    c.actor_type = to.type;
    c.actor_key = to.key;
    return c;
  }
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, continuation& x) {
  return f(caf::meta::type_name("continuation"), x.queue, x.type, x.payload, x.ends_execution,
           x.actor_type, x.actor_key, x.dedup_key, x.dedup_mode, x.dedup_ttl_ms, x.limit_key,
           x.priority);
}

inline bool operator==(const continuation& a, const continuation& b) {
  return a.queue == b.queue && a.type == b.type && a.payload == b.payload &&
         a.ends_execution == b.ends_execution && a.actor_type == b.actor_type &&
         a.actor_key == b.actor_key && a.dedup_key == b.dedup_key && a.dedup_mode == b.dedup_mode &&
         a.dedup_ttl_ms == b.dedup_ttl_ms && a.limit_key == b.limit_key && a.priority == b.priority;
}
inline bool operator!=(const continuation& a, const continuation& b) {
  return !(a == b);
}

/// Routing metadata carried beside a message body. Flags instead of std::optional because
/// CAF 0.17 cannot inspect std::optional.
struct message_headers {
  bool has_on_success = false;
  continuation on_success;
  bool has_on_error = false;
  continuation on_error;
  std::string trace_id;
  /// Set on a child of a fan_out: its group and index; its outcome arrives there.
  std::string group_id;
  int32_t child_index = -1;
  /// Set on a message sent with ask: the handler's reply is stored under this key.
  std::string reply_key;
  /// Set on a message an actor asked (context::ask): the handler's reply also goes to
  /// the asking actor as a keyed message of reply_to.type. JSON key "reply_to".
  bool has_reply_to = false;
  continuation reply_to;

  static message_headers with_on_success(continuation c) {
    message_headers h;
    h.has_on_success = true;
    h.on_success = std::move(c);
    return h;
  }

  static message_headers with_on_error(continuation c) {
    message_headers h;
    h.has_on_error = true;
    h.on_error = std::move(c);
    return h;
  }
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, message_headers& x) {
  return f(caf::meta::type_name("message_headers"), x.has_on_success, x.on_success, x.has_on_error,
           x.on_error, x.trace_id, x.group_id, x.child_index, x.reply_key, x.has_reply_to,
           x.reply_to);
}

// A continuation whose flag is off is not part of the value: it neither survives a JSON
// round trip nor should it make two otherwise equal headers differ.
inline bool operator==(const message_headers& a, const message_headers& b) {
  return a.has_on_success == b.has_on_success && a.has_on_error == b.has_on_error &&
         (!a.has_on_success || a.on_success == b.on_success) &&
         (!a.has_on_error || a.on_error == b.on_error) && a.trace_id == b.trace_id &&
         a.group_id == b.group_id && a.child_index == b.child_index && a.reply_key == b.reply_key &&
         a.has_reply_to == b.has_reply_to && (!a.has_reply_to || a.reply_to == b.reply_to);
}
inline bool operator!=(const message_headers& a, const message_headers& b) {
  return !(a == b);
}

/// Identity and routing of one mailbox row; the body travels separately as JSON.
struct envelope {
  std::string queue;
  std::string type;
  std::string execution_id;
  std::string org;
  message_headers headers;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, envelope& x) {
  return f(caf::meta::type_name("envelope"), x.queue, x.type, x.execution_id, x.org, x.headers);
}

inline bool operator==(const envelope& a, const envelope& b) {
  return a.queue == b.queue && a.type == b.type && a.execution_id == b.execution_id &&
         a.org == b.org && a.headers == b.headers;
}
inline bool operator!=(const envelope& a, const envelope& b) {
  return !(a == b);
}

/// Starts one execution of a workflow over a set of files and/or stored blobs.
struct execute_workflow {
  std::string org;
  std::string workflow;
  std::string execution_id;
  std::vector<std::string> files;
  std::vector<std::string> blob_ids;
  int32_t batch_size = 0;  // 0 = the workflow's default
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, execute_workflow& x) {
  return f(caf::meta::type_name("execute_workflow"), x.org, x.workflow, x.execution_id, x.files,
           x.blob_ids, x.batch_size);
}

inline bool operator==(const execute_workflow& a, const execute_workflow& b) {
  return a.org == b.org && a.workflow == b.workflow && a.execution_id == b.execution_id &&
         a.files == b.files && a.blob_ids == b.blob_ids && a.batch_size == b.batch_size;
}
inline bool operator!=(const execute_workflow& a, const execute_workflow& b) {
  return !(a == b);
}

/// One slice of an execution's input, processed as a unit.
struct process_file_batch {
  std::string execution_id;
  std::string workflow;
  std::string org;
  int32_t batch_index = 0;
  std::vector<std::string> files;  // paths, or `blob:<id>` references
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, process_file_batch& x) {
  return f(caf::meta::type_name("process_file_batch"), x.execution_id, x.workflow, x.org,
           x.batch_index, x.files);
}

inline bool operator==(const process_file_batch& a, const process_file_batch& b) {
  return a.execution_id == b.execution_id && a.workflow == b.workflow && a.org == b.org &&
         a.batch_index == b.batch_index && a.files == b.files;
}
inline bool operator!=(const process_file_batch& a, const process_file_batch& b) {
  return !(a == b);
}

/// Tells the owner of an execution that one of its messages finished.
struct execution_callback {
  std::string execution_id;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, execution_callback& x) {
  return f(caf::meta::type_name("execution_callback"), x.execution_id);
}

inline bool operator==(const execution_callback& a, const execution_callback& b) {
  return a.execution_id == b.execution_id;
}
inline bool operator!=(const execution_callback& a, const execution_callback& b) {
  return !(a == b);
}

}  // namespace postbox

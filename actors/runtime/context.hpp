// What a handler sees of the message it handles, and what it may do in the
// transaction that acks it. Everything a handler writes through the context
// (its own SQL, send, fan_out, reply) commits together with the ack, or not at all;
// reads (`query`, `cancelled`) run at once. No pqxx here.
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include "messages/describe.hpp"
#include "messages/messages.hpp"
#include "persistence/handled_commit.hpp"
#include "persistence/user_sql.hpp"

namespace postbox {

struct handler_context;
struct delivery;

/// A message a handler sends (or fans out): where, what, and its continuations.
struct message_out {
  std::string queue;
  std::string type;
  std::string payload = "{}";  // a JSON object
  std::chrono::milliseconds delay{0};
  message_headers headers;  // on_success / on_error continuations, trace id

  /// A described struct sent to `queue` under its type name.
  template <class T>
  static message_out of(std::string queue, const T& body) {
    message_out m;
    m.queue = std::move(queue);
    m.type = type_name_of<T>();
    m.payload = encode_json(body);
    return m;
  }
  /// A free-form JSON object body.
  static message_out json(std::string queue, std::string type, std::string payload) {
    message_out m;
    m.queue = std::move(queue);
    m.type = std::move(type);
    m.payload = std::move(payload);
    return m;
  }
  message_out& on_success(continuation c) {
    headers.has_on_success = true;
    headers.on_success = std::move(c);
    return *this;
  }
  message_out& on_error(continuation c) {
    headers.has_on_error = true;
    headers.on_error = std::move(c);
    return *this;
  }
};

class context {
 public:
  context(handler_context& hc, const delivery& d);

  // -- the message ------------------------------------------------------------
  int64_t message_id() const;
  const std::string& queue() const;
  const std::string& type() const;
  const std::string& execution_id() const;  // "" when it belongs to no execution
  const std::string& org() const;
  /// 1 on the first attempt; 1 + the failed attempts charged to it so far.
  int32_t attempt() const;
  /// The node running it ("node/queue/worker").
  const std::string& owner() const;

  /// Time left before the queue's max_handler_time fails this attempt.
  std::chrono::milliseconds time_left() const;
  /// True when the message's execution was stopped: its effects will not commit.
  bool cancelled();

  // -- reads, now -------------------------------------------------------------
  /// Runs a read in its own transaction: rows of text fields (NULL as nullopt).
  caf::expected<std::vector<sql_row>> query(std::string sql, std::vector<sql_value> params = {});

  // -- writes, with the ack ---------------------------------------------------
  /// The handler's own write, run in the ack's transaction (in call order).
  void execute(std::string sql, std::vector<sql_value> params = {});
  /// Enqueues `m` with the ack; it inherits this message's execution and org.
  void send(message_out m);
  template <class T>
  void send(std::string queue, const T& body) {
    send(message_out::of(std::move(queue), body));
  }
  /// Enqueues `children` and arms their group with the ack: `callback` is enqueued
  /// exactly once, when every child has ended, with their outcomes in child order
  /// under `results` ({index, status: "ok", result} or {index, status: "error",
  /// error}) and the group id under `group`. When this message is itself a child,
  /// its place in its own group passes to `callback` (nested groups: the outer
  /// group waits for the inner callback). Returns the group id.
  std::string fan_out(std::vector<message_out> children, message_out callback);
  /// Stores the reply for a message sent with a reply key (durable ask).
  void reply(json_text body);

  // -- used by the runtime ----------------------------------------------------
  /// The success transaction: ack + everything above + on_success with `result`.
  success_commit commit(const std::string& result_json) const;

 private:
  outgoing_message outgoing(const message_out& m) const;

  handler_context& hc_;
  const delivery& d_;
  message_headers headers_;
  std::chrono::steady_clock::time_point started_;
  std::vector<sql_statement> statements_;
  std::vector<outgoing_message> sends_;
  std::vector<fan_out_group> groups_;
  bool membership_passed_ = false;
  int fan_outs_ = 0;
  std::optional<std::string> reply_;
};

}  // namespace postbox

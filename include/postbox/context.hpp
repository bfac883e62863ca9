// What a handler sees of the message it handles, and what it may do in the
// transaction that acks it. Everything a handler writes through the context
// (its own SQL, send, fan_out, reply) commits together with the ack, or not at all;
// reads (`query`, `cancelled`) run at once. No pqxx here.
#pragma once

#include <chrono>
#include <memory>
#include <optional>
#include <postbox/actor.hpp>
#include <postbox/dedup.hpp>
#include <postbox/describe.hpp>
#include <postbox/messages.hpp>
#include <postbox/priority.hpp>
#include <postbox/reminder.hpp>
#include <postbox/sql.hpp>
#include <string>
#include <vector>

namespace postbox {

struct handler_context;   // internal: what the runtime lends a handler
struct delivery;          // internal: the claimed mailbox row
struct topology;          // the node's topology (config/topology.hpp)
struct outgoing_message;  // internal: a row to enqueue
struct success_commit;    // internal: the transaction that ends a success
struct context_effects;   // internal: what the handler sends and fans out
struct actor_turn;        // internal: the actor state a turn loaded and changes

/// A message a handler sends (or fans out): where, what, and its continuations.
struct message_out {
  std::string queue;
  std::string type;
  std::string payload = "{}";  // a JSON object
  std::chrono::milliseconds delay{0};
  message_headers headers;  // on_success / on_error continuations, trace id
  /// Identity columns; empty: the sending message's own.
  std::string execution_id;
  std::string org;
  /// To an actor (registry::actor): handled in its turn, after every message sent to it
  /// before; `queue` may stay empty (the actor type's). Never delayed.
  std::string actor_type;
  std::string actor_key;
  /// Dedup (include/postbox/dedup.hpp): empty key, none. A duplicate is not an error: the
  /// handler's ack commits and nothing is enqueued.
  std::string dedup_key;
  postbox::dedup_mode dedup_mode = dedup_mode::until_done;
  std::chrono::milliseconds dedup_ttl{0};
  /// Counted against topology `limits.<limit_key>` (max_in_flight, rate) across the
  /// cluster; empty: only its queue's limits.
  std::string limit_key;
  /// Its tier; unset: its type's default from the topology (`priorities: types:`), else
  /// normal. Claimed highest first; inside an actor key the send order wins.
  std::optional<postbox::priority> priority;

  /// A described struct sent to `queue` under its type name.
  template <class T>
  static message_out of(std::string queue, const T& body) {
    message_out m;
    m.queue = std::move(queue);
    m.type = type_name_of<T>();
    m.payload = encode_json(body);
    return m;
  }
  /// A described struct sent to actor `to` under its type name.
  template <class T>
  static message_out to(const actor_ref& to, const T& body) {
    message_out m;
    m.type = type_name_of<T>();
    m.payload = encode_json(body);
    m.actor_type = to.type;
    m.actor_key = to.key;
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

/// The most children one fan_out may have; a larger one fails the handler's attempt.
constexpr size_t max_fan_out_children = 1000000;

/// One child's outcome in a group (see context::group_results).
struct group_result {
  int32_t index = 0;
  bool ok = true;
  std::string result_json = "null";  // ok: the child's result
  std::string error;                 // not ok: why
};

class context {
 public:
  context(handler_context& hc, const delivery& d);
  ~context();
  context(const context&) = delete;
  context& operator=(const context&) = delete;

  // -- the message ------------------------------------------------------------
  int64_t message_id() const;
  const std::string& queue() const;
  const std::string& type() const;
  const std::string& execution_id() const;  // "" when it belongs to no execution
  const std::string& org() const;
  /// The actor whose turn this is ("" for a message to no actor).
  const std::string& actor_type() const;
  const std::string& actor_key() const;
  /// 1 on the first attempt; 1 + the failed attempts charged to it so far.
  int32_t attempt() const;
  /// The node running it ("node/queue/worker").
  const std::string& owner() const;
  /// This delivery's fencing token (its receipt): a newer delivery of the same message
  /// has a greater one. For the handler's own claims on shared state.
  int64_t fencing_token() const;
  /// The node's topology (its workflows and queues, for handlers that read them).
  const postbox::topology& topology() const;
  /// State this worker keeps between messages under `key` (made on first use).
  template <class T>
  T& local(const std::string& key) {
    auto& slot = local_slot(key);
    if (!slot) slot = std::make_shared<T>();
    return *static_cast<T*>(slot.get());
  }

  /// Time left before the queue's max_handler_time fails this attempt.
  std::chrono::milliseconds time_left() const;
  /// True when the message's execution was stopped: its effects will not commit.
  bool cancelled();

  // -- reads, now -------------------------------------------------------------
  /// Runs a read in its own transaction: rows of text fields (NULL as nullopt).
  caf::expected<std::vector<sql_row>> query(std::string sql, std::vector<sql_value> params = {});

  /// An idempotent write committed now, before the ack (progress a redelivery can
  /// keep, e.g. one result per item): retried once on a lost connection. How many
  /// rows it affected. For a message of an execution, nothing is written once the
  /// execution is cancelled: errc::execution_stopped (return it; the message is then
  /// acked, uncharged).
  caf::expected<int64_t> write_now(std::string sql, std::vector<sql_value> params = {});
  /// As write_now, but the commit does not wait for the disk (synchronous_commit =
  /// off): a checkpoint of progress that a redelivery can keep, costing no flush.
  /// Visible at once; a server crash may lose the last fraction of a second of them
  /// (the redelivery then redoes that work), and the ack's own commit makes every
  /// earlier checkpoint durable, since the WAL is flushed in order.
  caf::expected<int64_t> checkpoint(std::string sql, std::vector<sql_value> params = {});
  /// Several statements, in order, in one such checkpoint; rows the last one affected.
  caf::expected<int64_t> checkpoint(std::vector<sql_statement> statements);
  /// A page of the outcomes of group `group_id`, children `from_index` on, at most
  /// `limit`, in child order. A callback whose payload says `results_paged` (a group of
  /// more than 1,000 children, or results too large for one message) reads them so:
  /// `for (int32_t at = 0;; ) { auto page = ctx.group_results(g, at); ...
  /// if (page->empty()) break; at = page->back().index + 1; }`.
  caf::expected<std::vector<group_result>> group_results(const std::string& group_id,
                                                         int32_t from_index = 0,
                                                         int32_t limit = 1000);
  /// Where the handler may write temporary files: $TMPDIR, else /tmp.
  const std::string& temp_dir() const;

  // -- writes, with the ack ---------------------------------------------------
  /// The handler's own write, run in the ack's transaction (in call order).
  void execute(std::string sql, std::vector<sql_value> params = {});
  /// A step run inside the ack's transaction, right after the ack, that can read,
  /// write and decide: answering false keeps the ack but drops this handler's other
  /// effects (execute, send, fan_out, reply) and its on_success; an error rolls the
  /// whole transaction back (a failed attempt). Capture by value: it runs after the
  /// handler returned (and once more if the commit is retried on a new connection).
  /// For a message of an execution the ack takes the execution's fence before the
  /// steps (shared; exclusive if any step asks, e.g. to move it to a terminal status)
  /// and no step runs once the execution is cancelled.
  void in_ack(in_ack_fn step, execution_fence fence = execution_fence::shared);
  /// Enqueues `m` with the ack; it inherits this message's execution and org.
  void send(message_out m);
  template <class T>
  void send(std::string queue, const T& body) {
    send(message_out::of(std::move(queue), body));
  }
  /// Enqueues `body` to actor `to` with the ack: its turn comes after every message sent
  /// to that actor before this transaction commits.
  template <class T>
  void send(const actor_ref& to, const T& body) {
    send(message_out::to(to, body));
  }
  /// Enqueues `children` and arms their group with the ack: `callback` is enqueued
  /// exactly once, when every child has ended, with their outcomes in child order
  /// under `results` ({index, status: "ok", result} or {index, status: "error",
  /// error}) and the group id under `group`. When this message is itself a child,
  /// its place in its own group passes to `callback` (nested groups: the outer
  /// group waits for the inner callback). Returns the group id.
  std::string fan_out(std::vector<message_out> children, message_out callback);
  /// fan_out under a group id of the caller's choosing (unique, e.g. an execution id):
  /// an id armed before fails the attempt (charged), and nothing of the handler commits.
  std::string fan_out(std::vector<message_out> children, message_out callback,
                      std::string group_id);
  /// Hands this message's on_success / on_error continuations over (to put on a
  /// message that ends the work later, e.g. a fan_out's callback): this message's own
  /// success then fires no on_success. Its own failure still fires its on_error.
  message_headers take_continuations();
  /// Stores the reply for a message sent with a reply key (durable ask); for a message
  /// an actor asked (ask below), also sends it to that actor as a keyed message of the
  /// reply type it named (then it must be a JSON object), with the ack.
  void reply(json_text body);
  template <class T>
  void reply(const T& body) {
    reply(json_text{encode_json(body)});
  }
  /// From an actor's turn: sends `body` to actor `to` (with the ack) and asks for an
  /// answer: the handler's reply() comes back to this actor as a keyed message of
  /// `reply_type`, in its turn, after every message sent to it before. Nothing waits:
  /// turns never interleave. Refused at once (errc::invalid_argument, nothing sent) when
  /// `to` is this very actor (its answer could only come in a turn after this one: do
  /// the work here, or send itself a message), or when this is no actor's turn.
  template <class T>
  [[nodiscard]] caf::error ask(const actor_ref& to, const T& body, std::string reply_type) {
    return ask(message_out::to(to, body), std::move(reply_type));
  }
  /// ask with a message of the caller's making (to an actor; e.g. with continuations).
  [[nodiscard]] caf::error ask(message_out m, std::string reply_type);

  // -- a keyed actor's reminders and timers, with the ack --------------------
  // Only inside an actor's turn (registry.actor<S>): elsewhere the attempt fails,
  // naming the call. Each exists exactly when the turn's ack committed.
  /// Sets (or sets again) reminder `name` of this actor: due `due_in` after the commit
  /// (the database's clock), then every `period` (0: once; else at least 1 s). Each
  /// due time sends one message, a turn of this actor run by the type's on_reminder.
  /// Setting it again replaces it: a tick of the old one not yet run never runs.
  void remind(std::string name, std::chrono::milliseconds due_in,
              std::chrono::milliseconds period = std::chrono::milliseconds(0),
              missed_ticks missed = missed_ticks::once);
  /// As above, first due at `due` (wall clock time).
  void remind(std::string name, std::chrono::system_clock::time_point due,
              std::chrono::milliseconds period = std::chrono::milliseconds(0),
              missed_ticks missed = missed_ticks::once);
  /// Deletes reminder `name` of this actor (nothing when it has none): a tick of it
  /// already sent but not yet run is acked without running.
  void cancel_reminder(std::string name);
  /// Sends `m` (to a queue or an actor) `delay` after the commit: a durable timer.
  void send_after(std::chrono::milliseconds delay, message_out m);
  template <class T>
  void send_after(std::chrono::milliseconds delay, const actor_ref& to, const T& body) {
    send_after(delay, message_out::to(to, body));
  }

  // -- used by the runtime ----------------------------------------------------
  /// Set when something the handler asked for cannot be done (a message without a
  /// queue, continuations that would not decode): the attempt fails with it.
  const std::string& problem() const;

 private:
  /// The success transaction: ack + everything above + on_success with `result`
  /// (actors/runtime/context.hpp).
  friend success_commit commit_of(const context& ctx, const std::string& result_json);
  /// A keyed actor's turn: its state is loaded before and written with the ack.
  friend void attach_turn(context& ctx, actor_turn& turn);

  outgoing_message outgoing(const message_out& m);
  /// False (and the attempt fails naming `what`) outside a keyed actor's turn.
  bool in_turn(const std::string& what);
  void set_reminder(std::string name, bool absolute, int64_t due_ms,
                    std::chrono::milliseconds period, missed_ticks missed);
  std::shared_ptr<void>& local_slot(const std::string& key);

  handler_context& hc_;
  const delivery& d_;
  message_headers headers_;
  std::chrono::steady_clock::time_point started_;
  std::vector<in_ack_fn> in_ack_;
  execution_fence fence_ = execution_fence::shared;
  std::vector<sql_statement> statements_;
  std::unique_ptr<context_effects> effects_;
  bool membership_passed_ = false;
  bool continuations_taken_ = false;
  int hand_over_to_send_ = -1;
  std::string problem_;
  int fan_outs_ = 0;
  std::optional<std::string> reply_;
  actor_turn* turn_ = nullptr;
};

}  // namespace postbox

// The postbox client API: what the `postbox` CLI does, for a user's own program.
// Submit executions over files, follow them, send any typed message, ask a
// handler for its reply, inspect.
//
//   postbox::client c{"host=... dbname=..."};
//   auto sub = c.submit({"docs", {"/data/in"}});          // execution_id
//   auto done = c.wait(sub->execution_id);                // terminal record
//   auto r = c.ask("executor", "tool_call", R"({"tool":"upper","input":"hi"})");
//   if (r && r->status == postbox::reply_status::ok) use(r->body);  // {"text":"HI"}
#pragma once

#include <caf/expected.hpp>
#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <postbox/actor.hpp>
#include <postbox/dedup.hpp>
#include <postbox/error.hpp>
#include <postbox/execution.hpp>
#include <postbox/priority.hpp>
#include <postbox/session_options.hpp>
#include <string>
#include <vector>

namespace postbox {

class pg_session;     // internal: the connection (persistence/pg_session.hpp)
class inspect_store;  // internal: what the CLI lists (persistence/inspect_store.hpp)

struct submit_request {
  std::string workflow;
  std::vector<std::string> paths;  // files and folders (walked, sorted)
  bool upload = false;             // store contents in Postgres (nodes on other hosts)
  int32_t batch_size = 0;          // 0: the workflow's default
  std::string org;
  std::string headers = "{}";  // optional on_success / on_error continuations (JSON)
};

struct submitted {
  std::string execution_id;
  int32_t files = 0;
};

/// How a request ended (durable ask).
enum class reply_status {
  ok,       // the handler replied: `body`
  error,    // the request was dead-lettered: `error` is the reason
  pending,  // no reply before the deadline: fetch it later with fetch_reply(request_id)
};

struct ask_reply {
  std::string request_id;  // the reply key the request was sent with
  int64_t message_id = 0;  // the request message
  reply_status status = reply_status::pending;
  std::string body = "null";  // JSON text (ok)
  std::string error;          // (error)
};

/// How long and how a client waits for a reply.
struct reply_wait {
  /// 0: look once.
  std::chrono::milliseconds timeout{30000};
  /// Wake on NOTIFY postbox_reply (a dedicated connection). Turn off behind a
  /// transaction-mode pooler, where LISTEN does not work: the table is polled anyway.
  bool listen = true;
  /// The table is re-read this often whatever NOTIFY does, so a lost notification
  /// costs latency, never an answer.
  std::chrono::milliseconds poll{500};
};

struct ask_options {
  /// Headers of the request (continuations, trace id); its reply_key is the request id.
  std::string headers = "{}";
  /// The request id (reply key, 1 to 256 bytes); empty: a new UUID.
  std::string request_id;
  reply_wait wait;
};

/// What a send may carry besides its body; each left empty: none.
struct send_options {
  /// Its tier; unset: its type's default (topology `priorities.types`), else normal.
  std::optional<priority> tier;
  /// 1 to 256 bytes: counted against topology `limits.<limit_key>` across the cluster.
  std::string limit_key;
  /// A dedup key (and its mode and ttl): one live message per key on its queue.
  dedup_options dedup;
};

class client {
 public:
  explicit client(std::string dsn, std::string application_name = "postbox-client");
  /// With full connection options (e.g. behind a transaction-mode pooler).
  explicit client(session_options options);
  ~client();
  client(const client&) = delete;
  client& operator=(const client&) = delete;

  /// Creates the execution (QUEUED) and its orchestration message in one transaction.
  caf::expected<submitted> submit(const submit_request& req);
  /// The execution with live file counts while it runs.
  caf::expected<execution_record> status(const std::string& execution_id);
  /// Cancels the execution (SQL postbox.cancel): STOPPED at once, one webhook, its
  /// on_error with error "cancelled"; no effect of it commits afterwards. An execution
  /// already terminal stays as it is (cancelled = false). not_found for an unknown id.
  caf::expected<cancel_outcome> cancel(const std::string& execution_id);
  /// Polls until the execution is terminal (or `timeout`, when non-zero, passes);
  /// `progress` sees every poll.
  caf::expected<execution_record> wait(
      const std::string& execution_id,
      const std::function<void(const execution_record&)>& progress = {},
      std::chrono::milliseconds poll = std::chrono::milliseconds(300),
      std::chrono::milliseconds timeout = std::chrono::milliseconds(0));
  /// Sends any typed message after validating its body (errors name the field);
  /// identity columns come from the body; `opts` its priority, limit key and dedup key.
  /// Returns the message id (a duplicate's: the live message's that holds the key).
  caf::expected<int64_t> send(const std::string& queue, const std::string& type,
                              const std::string& json_payload, const std::string& headers = "{}",
                              const send_options& opts = {});
  /// Sends to actor `to` (its type's queue, which a node of that type registered, when
  /// `queue` is empty; a queue that is not the actor's is refused): its turn comes after
  /// every message sent to it before. Returns the message id.
  caf::expected<int64_t> send(const actor_ref& to, const std::string& type,
                              const std::string& json_payload, const std::string& headers = "{}",
                              const std::string& queue = "", const send_options& opts = {});
  /// send, telling a duplicate apart (`opts.dedup.key` set): while a message with the key is
  /// live on the queue, nothing is enqueued and the result names that message,
  /// duplicate = true.
  caf::expected<send_result> send_unique(const std::string& queue, const std::string& type,
                                         const std::string& json_payload, const send_options& opts,
                                         const std::string& headers = "{}");
  caf::expected<send_result> send_unique(const actor_ref& to, const std::string& type,
                                         const std::string& json_payload, const send_options& opts,
                                         const std::string& headers = "{}",
                                         const std::string& queue = "");
  /// Refuses, before a send, a type that no node of `among` (the topology's node names;
  /// empty: every registered node) handles on `queue`, judged as the consumers' sweep
  /// judges it (their registrations, nodes.handled_types): when every node named has
  /// registered and some handles a type on `queue`, another type would be dead-lettered
  /// within seconds. invalid_argument naming the types handled there; no error when
  /// there is nothing to judge by.
  caf::error check_handled(const std::string& queue, const std::string& type,
                           const std::vector<std::string>& among);
  /// Durable ask: sends the message with a reply key (the request id) and waits for
  /// the handler's reply (ctx.reply), stored with its ack, or for the request's dead
  /// letter. A deadline that passes is not an error: status pending, and the reply
  /// stays fetchable by request id (until the reaper's reply_retention). An error
  /// when the message is refused, or was handled without a reply (not_found).
  caf::expected<ask_reply> ask(const std::string& queue, const std::string& type,
                               const std::string& json_payload, const ask_options& options = {});
  /// The reply to an earlier request (sent by any process), waiting up to
  /// `wait.timeout` for it (by default: look once). not_found when nothing is stored
  /// and no such request waits in the mailbox.
  caf::expected<ask_reply> fetch_reply(const std::string& request_id,
                                       const reply_wait& wait = reply_wait{
                                           std::chrono::milliseconds(0)});
  /// The stores behind the client, for the postbox CLI (internal headers).
  inspect_store& inspect();
  pg_session& session();

 private:
  caf::expected<send_result> send_message(const std::string& queue, const std::string& type,
                                          const std::string& json_payload,
                                          const std::string& headers, const actor_ref* to,
                                          const send_options& opts);
  std::unique_ptr<pg_session> session_;
  std::unique_ptr<inspect_store> inspect_;
};

/// Files of path arguments: files as given, folders walked; absolute, sorted per folder.
caf::expected<std::vector<std::string>> collect_files(const std::vector<std::string>& paths);

/// A random (version 4) UUID string for a new execution.
std::string new_execution_id();

}  // namespace postbox

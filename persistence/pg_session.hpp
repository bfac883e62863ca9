// One PostgreSQL connection owned by one thread, and the transaction runner
// every store uses. pqxx stays behind this header: actors never see it.
#pragma once

#include <caf/expected.hpp>
#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "messages/error.hpp"

namespace postbox {

struct session_options {
  /// Either form: key=value pairs or a postgresql:// URI. Parsed by libpq
  /// (persistence/conninfo.hpp); keepalive defaults are added where it gives none.
  std::string dsn;
  /// Sent as application_name: operators (and fault tests) find backends by it.
  std::string application_name = "postbox";
  /// Named prepared statements; turn off behind a transaction-mode pooler.
  bool prepared_statements = true;
  /// How long the one retry of an idempotent write waits for the server to accept
  /// a new connection (covers a server restart).
  std::chrono::milliseconds reconnect_wait{3000};
  /// The server ends a session that sits idle inside a transaction this long
  /// (0: server default). A frozen or partitioned node holding row locks in an
  /// open transaction would otherwise hide its messages from every other node.
  std::chrono::milliseconds idle_in_transaction_timeout{10000};
  /// The same per transaction (SET LOCAL), for a transaction-mode pooler where a
  /// session SET would land on other clients' connections. 0: not set.
  std::chrono::milliseconds local_idle_in_transaction_timeout{0};
  /// The server cancels any statement of this session running longer (0: server
  /// default, none). For connections that serve people (the HTTP endpoint): an
  /// answer late by more than this is an error instead.
  std::chrono::milliseconds statement_timeout{0};
  /// The same per transaction (SET LOCAL) behind a transaction-mode pooler; a
  /// single-statement body then runs in a transaction of its own. 0: not set.
  std::chrono::milliseconds local_statement_timeout{0};
  /// Mirror the connection's TCP keepalive and tcp_user_timeout parameters (postbox's
  /// defaults, or the DSN's) into the server's session settings, so the server also
  /// notices a dead or frozen client. Off behind a transaction-mode pooler, where a
  /// session SET would land on other clients' connections.
  bool server_keepalives = true;
  /// Every transaction of this connection is read-only (default_transaction_read_only):
  /// a read runs as one statement, one round trip, and still cannot write.
  bool read_only = false;
};

/// Whether a transaction that failed because its connection died is run again.
/// Only writes that are idempotent (fenced by a receipt or keyed) may say `once`.
enum class retry_policy { never, once };

/// A body of one statement needs no BEGIN/COMMIT round trips: it runs in
/// autocommit (the statement is atomic on its own).
/// transaction: BEGIN .. COMMIT; single_statement: autocommit; read_only: BEGIN READ ONLY;
/// relaxed: a transaction committed with synchronous_commit = off (visible at once, durable
/// once WAL is flushed: within ~3 wal_writer_delay, or by the next synchronous commit).
enum class tx_kind { transaction, single_statement, read_only, relaxed };

class tx_context;  // persistence/detail/tx_context.hpp

class pg_session {
 public:
  explicit pg_session(session_options opts);
  ~pg_session();
  pg_session(const pg_session&) = delete;
  pg_session& operator=(const pg_session&) = delete;

  const session_options& options() const;

  /// Opens the connection now (otherwise the first transaction does).
  caf::error connect();

  /// The backend pid of the current connection, 0 when there is none.
  int backend_pid() const;

  /// Runs `fn` in one read-committed transaction. An error returned by `fn`
  /// rolls back; database exceptions are translated into errc. On a dead
  /// connection the session reconnects and, with retry_policy::once, runs `fn`
  /// one more time. A transaction that died before BEGIN reached the server is
  /// always run again (nothing of it can have happened). Logic errors are never
  /// retried.
  caf::error transact(retry_policy policy, const std::function<caf::error(tx_context&)>& fn,
                      tx_kind kind = tx_kind::transaction);

  /// transact() for a body that returns caf::expected<T>.
  template <class T, class F>
  caf::expected<T> transact_value(retry_policy policy, F&& fn,
                                  tx_kind kind = tx_kind::transaction) {
    std::optional<T> out;
    auto err = transact(
        policy,
        [&](tx_context& tx) -> caf::error {
          caf::expected<T> r = fn(tx);
          if (!r) return r.error();
          out = std::move(*r);
          return {};
        },
        kind);
    if (err) return err;
    return std::move(*out);
  }

  /// Runs one SQL script outside a transaction block (tests, tooling).
  caf::error execute_script(const std::string& sql);

  struct impl;
  impl& internals() { return *impl_; }

 private:
  std::unique_ptr<impl> impl_;
};

}  // namespace postbox

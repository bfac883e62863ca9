// One PostgreSQL connection owned by one thread, and the transaction runner
// every store uses. pqxx stays behind this header: actors never see it.
#pragma once

#include <caf/expected.hpp>
#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <postbox/error.hpp>
#include <postbox/session_options.hpp>
#include <string>

namespace postbox {

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

// Internal to persistence/: the pqxx transaction a store operation runs in.
// Store .cpp files include this; nothing outside persistence/ may.
#pragma once

#include <functional>
#include <optional>
#include <pqxx/pqxx>
#include <string>
#include <unordered_map>
#include <vector>

#include "persistence/execution_store.hpp"
#include "persistence/pg_session.hpp"
#include "persistence/sql_registry.hpp"

namespace postbox {

struct pg_session::impl {
  session_options opts;
  std::string conninfo;         // the parsed dsn + application_name + keepalive defaults
  caf::error conninfo_error;    // the dsn does not parse: every connect fails with this
  std::string server_settings;  // SET statements run on every new connection
  std::unique_ptr<pqxx::connection> conn;
  /// Caller SQL prepared on this connection, by text (see tx_context::exec_text).
  std::unordered_map<std::string, std::string> user_statements;
  size_t user_statements_made = 0;  // names postbox_user_0.. on this connection

  /// Returns the live connection, opening one (with prepared queries) if needed.
  pqxx::connection& ensure();
  void drop() {
    conn.reset();
    user_statements.clear();
    user_statements_made = 0;
  }
};

class tx_context {
 public:
  tx_context(pqxx::transaction_base& w, pg_session::impl& s) : work_(w), session_(s) {}

  /// Runs the embedded query `name` with positional parameters.
  template <class... Ts>
  pqxx::result exec(const char* name, Ts&&... args) {
    if (session_.opts.prepared_statements)
      return work_.exec_prepared(name, std::forward<Ts>(args)...);
    return work_.exec_params(sql::query(name), std::forward<Ts>(args)...);
  }

  /// Runs a caller's own statement (not an embedded query) with text parameters;
  /// nullptr is NULL.
  /// A statement runs prepared (parsed and planned once per connection), as the
  /// embedded queries do, unless a pooler forbids it or this connection has prepared
  /// max_user_statements already (a caller building SQL text on the fly must not grow
  /// the server's statements without bound). A prepared statement that fails is
  /// forgotten: the next run prepares it afresh, so one prepared before a schema change
  /// ("cached plan must not change result type") fails once, not until reconnect.
  pqxx::result exec_text(const std::string& text, const std::vector<const char*>& params) {
    auto dynamic = pqxx::prepare::make_dynamic_params(params);
    if (!session_.opts.prepared_statements || !session_.conn)
      return work_.exec_params(text, dynamic);
    auto& cache = session_.user_statements;
    auto it = cache.find(text);
    if (it == cache.end()) {
      if (session_.user_statements_made >= max_user_statements)
        return work_.exec_params(text, dynamic);
      auto name = "postbox_user_" + std::to_string(session_.user_statements_made++);
      session_.conn->prepare(name, text);
      it = cache.emplace(text, std::move(name)).first;
    }
    try {
      return work_.exec_prepared(it->second, dynamic);
    } catch (const pqxx::sql_error&) {
      cache.erase(text);
      throw;
    }
  }

  static constexpr size_t max_user_statements = 256;

  /// Runs `fn` in a savepoint of this transaction (SAVEPOINT .. RELEASE; not nested). An error it
  /// returns, or a statement of it throws, rolls back to the savepoint only and is
  /// returned translated as pg_session::transact would; the transaction goes on. A lost
  /// connection is rethrown: the whole transaction is gone. (pg_session.cpp)
  caf::error savepoint(const std::function<caf::error(tx_context&)>& fn);

  pqxx::transaction_base& work() { return work_; }

 private:
  pqxx::transaction_base& work_;
  pg_session::impl& session_;
};

namespace detail {

/// NULL for an empty string (identity columns are nullable).
inline const char* null_if_empty(const std::string& s) {
  return s.empty() ? nullptr : s.c_str();
}

/// The text of a field; "" for NULL.
inline std::string text_or_empty(const pqxx::field& f) {
  return f.is_null() ? std::string{} : f.c_str();
}

/// An executions row (the column list of executions_get.sql / executions_list.sql).
caf::expected<execution_record> execution_from_row(const pqxx::row& row);

/// PostgreSQL array literals for parameters ($1::text[], $2::bigint[]).
std::string pg_text_array(const std::vector<std::optional<std::string>>& v);
std::string pg_int_array(const std::vector<int64_t>& v);

}  // namespace detail
}  // namespace postbox

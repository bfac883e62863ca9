// Caller-written SQL with dynamic text parameters.
#include "persistence/user_sql.hpp"

#include "persistence/detail/tx_context.hpp"

namespace postbox {

namespace {

std::vector<sql_row> rows_of(const pqxx::result& r);

std::vector<const char*> raw_params(const sql_statement& s) {
  std::vector<const char*> out;
  out.reserve(s.params.size());
  for (const auto& p : s.params) out.push_back(p ? p->c_str() : nullptr);
  return out;
}

}  // namespace

/// libpq sends text parameters as C strings: a NUL would silently cut one short.
caf::error check_params(const std::vector<sql_value>& params) {
  for (size_t i = 0; i < params.size(); ++i)
    if (params[i] && params[i]->find('\0') != std::string::npos)
      return make_error(errc::invalid_argument,
                        "SQL parameter $" + std::to_string(i + 1) + " contains a NUL byte");
  return {};
}

std::string sql_text_array(const std::vector<std::string>& items) {
  return detail::pg_text_array({items.begin(), items.end()});
}

std::string sql_text_array(const std::vector<sql_value>& items) {
  return detail::pg_text_array(items);
}

caf::expected<std::vector<sql_row>> run_query(pg_session& session, const sql_statement& q) {
  if (auto err = check_params(q.params)) return err;
  // Reads only: a write here would commit outside the ack (and could run twice). On a
  // read-only session one statement (one round trip), else BEGIN READ ONLY .. COMMIT.
  return session.transact_value<std::vector<sql_row>>(
      retry_policy::once,
      [&](tx_context& tx) -> caf::expected<std::vector<sql_row>> {
        return rows_of(tx.exec_text(q.text, raw_params(q)));
      },
      session.options().read_only ? tx_kind::single_statement : tx_kind::read_only);
}

namespace {

/// The execution's fence, shared, then whether it is STOPPED (executions_fence_stopped.sql):
/// a write of a message of a cancelled execution is refused before it runs.
caf::error refuse_if_stopped(tx_context& tx, const std::string& execution_id) {
  if (execution_id.empty()) return {};
  auto r = tx.exec("executions_fence_stopped", execution_id);
  if (!r.empty() && r[0][0].c_str() == std::string("t"))
    return make_error(errc::execution_stopped,
                      "execution " + execution_id + " was cancelled: nothing more of it commits");
  return {};
}

}  // namespace

caf::expected<int64_t> run_write(pg_session& session, const sql_statement& s,
                                 const std::string& execution_id) {
  if (auto err = check_params(s.params)) return err;
  return session.transact_value<int64_t>(
      retry_policy::once,
      [&](tx_context& tx) -> caf::expected<int64_t> {
        if (auto err = refuse_if_stopped(tx, execution_id)) return err;
        return static_cast<int64_t>(tx.exec_text(s.text, raw_params(s)).affected_rows());
      },
      execution_id.empty() ? tx_kind::single_statement : tx_kind::transaction);
}

caf::expected<int64_t> run_checkpoint(pg_session& session, const sql_statement& s,
                                      const std::string& execution_id) {
  return run_checkpoint(session, std::vector<sql_statement>{s}, execution_id);
}

caf::expected<int64_t> run_checkpoint(pg_session& session, const std::vector<sql_statement>& ss,
                                      const std::string& execution_id) {
  for (const auto& s : ss)
    if (auto err = check_params(s.params)) return err;
  return session.transact_value<int64_t>(
      retry_policy::once,
      [&](tx_context& tx) -> caf::expected<int64_t> {
        if (auto err = refuse_if_stopped(tx, execution_id)) return err;
        int64_t affected = 0;
        for (const auto& s : ss)
          affected = static_cast<int64_t>(tx.exec_text(s.text, raw_params(s)).affected_rows());
        return affected;
      },
      tx_kind::relaxed);
}

caf::error run_statement(tx_context& tx, const sql_statement& s) {
  if (auto err = check_params(s.params)) return err;
  tx.exec_text(s.text, raw_params(s));
  return {};
}

namespace {

std::vector<sql_row> rows_of(const pqxx::result& r) {
  std::vector<sql_row> rows;
  rows.reserve(r.size());
  for (const auto& row : r) {
    sql_row out;
    for (const auto& f : row)
      out.push_back(f.is_null() ? sql_value{} : sql_value{std::string(f.c_str())});
    rows.push_back(std::move(out));
  }
  return rows;
}

}  // namespace

caf::expected<std::vector<sql_row>> sql_tx::query(const std::string& sql,
                                                  std::vector<sql_value> params) {
  if (failure_)
    return make_error(errc::logic_error, "an earlier statement of this transaction failed");
  if (auto err = check_params(params)) return err;
  try {
    return rows_of(tx_.exec_text(sql, raw_params({sql, std::move(params)})));
  } catch (const std::exception& e) {
    failure_ = std::current_exception();
    return make_error(errc::logic_error, e.what());
  }
}

caf::expected<int64_t> sql_tx::execute(const std::string& sql, std::vector<sql_value> params) {
  if (failure_)
    return make_error(errc::logic_error, "an earlier statement of this transaction failed");
  if (auto err = check_params(params)) return err;
  try {
    return static_cast<int64_t>(
        tx_.exec_text(sql, raw_params({sql, std::move(params)})).affected_rows());
  } catch (const std::exception& e) {
    failure_ = std::current_exception();
    return make_error(errc::logic_error, e.what());
  }
}

}  // namespace postbox

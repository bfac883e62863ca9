// Caller-written SQL with dynamic text parameters.
#include "persistence/user_sql.hpp"

#include "persistence/detail/tx_context.hpp"

namespace postbox {

namespace {

std::vector<const char*> raw_params(const sql_statement& s) {
  std::vector<const char*> out;
  out.reserve(s.params.size());
  for (const auto& p : s.params) out.push_back(p ? p->c_str() : nullptr);
  return out;
}

}  // namespace

caf::expected<std::vector<sql_row>> run_query(pg_session& session, const sql_statement& q) {
  return session.transact_value<std::vector<sql_row>>(
      retry_policy::once, [&](tx_context& tx) -> caf::expected<std::vector<sql_row>> {
        auto r = tx.exec_text(q.text, raw_params(q));
        std::vector<sql_row> rows;
        rows.reserve(r.size());
        for (const auto& row : r) {
          sql_row out;
          for (const auto& f : row)
            out.push_back(f.is_null() ? sql_value{} : sql_value{std::string(f.c_str())});
          rows.push_back(std::move(out));
        }
        return rows;
      });
}

caf::error run_statement(tx_context& tx, const sql_statement& s) {
  tx.exec_text(s.text, raw_params(s));
  return {};
}

}  // namespace postbox

// SQL calls of the executions table.
#include "persistence/execution_store.hpp"

#include "persistence/detail/tx_context.hpp"
#include "persistence/file_results_store.hpp"

namespace postbox {

caf::expected<bool> execution_store::create(tx_context& tx, const new_execution& x,
                                            const std::string& headers) {
  if (x.id.empty() || x.workflow.empty())
    return make_error(errc::invalid_argument, "an execution needs an id and a workflow");
  auto r = tx.exec("executions_create", x.id, x.org, x.workflow, x.batch_size, x.files_total,
                   headers.empty() ? std::string("{}") : headers);
  return !r.empty();
}

namespace detail {

caf::expected<execution_record> execution_from_row(const pqxx::row& row) {
  execution_record e;
  e.id = row[0].c_str();
  e.org = row[1].c_str();
  e.workflow = row[2].c_str();
  auto st = parse_execution_status(row[3].c_str());
  if (!st) return make_error(errc::logic_error, std::string("unknown status ") + row[3].c_str());
  e.status = *st;
  e.batch_size = row[4].as<int32_t>();
  e.files_total = row[5].as<int32_t>();
  e.files_done = row[6].as<int32_t>();
  e.files_failed = row[7].as<int32_t>();
  e.error = text_or_empty(row[8]);
  e.created_epoch = row[9].as<double>();
  e.updated_epoch = row[10].as<double>();
  return e;
}

}  // namespace detail

caf::expected<execution_record> execution_store::get(tx_context& tx, const std::string& id) {
  auto r = tx.exec("executions_get", id);
  if (r.empty()) return make_error(errc::not_found, "no execution " + id);
  return detail::execution_from_row(r[0]);
}

caf::expected<bool> execution_store::transition(tx_context& tx, const std::string& id,
                                                const std::vector<execution_status>& from,
                                                execution_status to, const std::string& error) {
  std::vector<std::optional<std::string>> names;
  for (auto s : from) names.emplace_back(to_string(s));
  auto r = tx.exec("executions_transition", id, detail::pg_text_array(names),
                   std::string(to_string(to)), detail::null_if_empty(error));
  return !r.empty();
}

caf::error execution_store::set_counts(tx_context& tx, const std::string& id, int32_t done,
                                       int32_t failed) {
  auto r = tx.exec("executions_set_counts", id, done, failed);
  if (r.affected_rows() == 0) return make_error(errc::not_found, "no execution " + id);
  return {};
}

caf::expected<cancel_outcome> execution_store::cancel(tx_context& tx, const std::string& id) {
  // Checked first, so an unknown id is a plain not_found, not an SQL error text.
  if (tx.exec("executions_get", id).empty())
    return make_error(errc::not_found, "no execution " + id);
  auto r = tx.exec("executions_cancel", id);
  if (r.empty()) return make_error(errc::logic_error, "postbox.cancel answered no row");
  cancel_outcome out;
  auto status = parse_execution_status(r[0][0].c_str());
  if (!status) return make_error(errc::logic_error, std::string("status ") + r[0][0].c_str());
  out.status = *status;
  out.cancelled = r[0][1].c_str() == std::string("t");
  return out;
}

caf::expected<cancel_outcome> execution_store::cancel(const std::string& id) {
  // A retry after a lost commit finds it STOPPED and answers cancelled = false.
  return session_.transact_value<cancel_outcome>(retry_policy::once,
                                                 [&](tx_context& tx) { return cancel(tx, id); });
}

caf::expected<bool> execution_store::create(const new_execution& x) {
  // Keyed by id: a retry after a lost connection finds the row and reports false.
  return session_.transact_value<bool>(retry_policy::once,
                                       [&](tx_context& tx) { return create(tx, x); });
}

caf::expected<execution_record> execution_store::get(const std::string& id) {
  return session_.transact_value<execution_record>(retry_policy::once,
                                                   [&](tx_context& tx) { return get(tx, id); });
}

caf::expected<execution_record> execution_store::progress(const std::string& id) {
  auto e = get(id);
  if (!e) return e.error();
  if (!is_terminal(e->status)) {
    file_results_store results{session_};
    auto live = results.counts(id);
    if (!live) return live.error();
    e->files_done = live->done;
    e->files_failed = live->failed;
  }
  return e;
}

caf::expected<bool> execution_store::transition(const std::string& id,
                                                std::vector<execution_status> from,
                                                execution_status to, const std::string& error) {
  return session_.transact_value<bool>(
      retry_policy::once, [&](tx_context& tx) { return transition(tx, id, from, to, error); });
}

caf::error execution_store::set_counts(const std::string& id, int32_t done, int32_t failed) {
  return session_.transact(retry_policy::once,
                           [&](tx_context& tx) { return set_counts(tx, id, done, failed); });
}

}  // namespace postbox

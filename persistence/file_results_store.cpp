// SQL calls of file_results.
#include "persistence/file_results_store.hpp"

#include "persistence/detail/tx_context.hpp"

namespace postbox {

caf::expected<std::set<std::string>> file_results_store::existing(
    const std::string& execution_id, const std::vector<std::string>& keys) {
  return session_.transact_value<std::set<std::string>>(
      retry_policy::once,
      [&](tx_context& tx) -> caf::expected<std::set<std::string>> {
        std::vector<std::optional<std::string>> arr(keys.begin(), keys.end());
        std::set<std::string> out;
        for (const auto& row :
             tx.exec("file_results_existing", execution_id, detail::pg_text_array(arr)))
          out.insert(row[0].c_str());
        return out;
      },
      tx_kind::single_statement);
}

caf::expected<bool> file_results_store::record(const std::string& execution_id, int32_t batch_index,
                                               const file_result& r) {
  return session_.transact_value<bool>(
      retry_policy::once,
      [&](tx_context& tx) -> caf::expected<bool> {
        auto res =
            tx.exec("file_results_record", execution_id, r.file_key, batch_index,
                    std::string(r.ok ? "done" : "failed"), r.ok ? r.result_json.c_str() : nullptr,
                    r.ok ? nullptr : r.error.c_str());
        return res.affected_rows() == 1;
      },
      tx_kind::single_statement);
}

caf::expected<file_counts> file_results_store::counts(tx_context& tx,
                                                      const std::string& execution_id) {
  auto r = tx.exec("file_results_counts", execution_id);
  return file_counts{r[0][0].as<int32_t>(), r[0][1].as<int32_t>()};
}

caf::expected<file_counts> file_results_store::counts(const std::string& execution_id) {
  return session_.transact_value<file_counts>(
      retry_policy::once, [&](tx_context& tx) { return counts(tx, execution_id); },
      tx_kind::single_statement);
}

caf::expected<std::vector<file_result>> file_results_store::list(const std::string& execution_id,
                                                                 int limit) {
  return session_.transact_value<std::vector<file_result>>(
      retry_policy::once,
      [&](tx_context& tx) -> caf::expected<std::vector<file_result>> {
        std::vector<file_result> out;
        for (const auto& row : tx.exec("file_results_list", execution_id, limit)) {
          file_result f;
          f.file_key = row[0].c_str();
          f.ok = std::string(row[1].c_str()) == "done";
          f.result_json = detail::text_or_empty(row[2]);
          f.error = detail::text_or_empty(row[3]);
          out.push_back(std::move(f));
        }
        return out;
      },
      tx_kind::single_statement);
}

}  // namespace postbox

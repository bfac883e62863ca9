// SQL calls of file_results.
#include "persistence/file_results_store.hpp"

#include "persistence/detail/tx_context.hpp"

namespace postbox {

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

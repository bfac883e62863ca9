// Per-file results of an execution: written once per (execution, file), so a
// redelivered batch skips what is done and never counts a file twice.
#pragma once

#include <caf/expected.hpp>
#include <set>
#include <string>
#include <vector>

#include "persistence/pg_session.hpp"

namespace postbox {

struct file_result {
  std::string file_key;
  bool ok = false;
  std::string result_json = "{}";  // when ok
  std::string error;               // when failed
};

struct file_counts {
  int32_t done = 0;
  int32_t failed = 0;
};

class file_results_store {
 public:
  explicit file_results_store(pg_session& session) : session_(session) {}

  caf::expected<file_counts> counts(const std::string& execution_id);
  caf::expected<std::vector<file_result>> list(const std::string& execution_id, int limit);

  static caf::expected<file_counts> counts(tx_context& tx, const std::string& execution_id);

 private:
  pg_session& session_;
};

}  // namespace postbox

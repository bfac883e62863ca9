// Executions: created once, moved between statuses only by compare-and-set.
#pragma once

#include <algorithm>
#include <caf/expected.hpp>
#include <initializer_list>
#include <postbox/execution.hpp>
#include <string>
#include <vector>

#include "messages/execution_status.hpp"
#include "persistence/pg_session.hpp"

namespace postbox {

struct new_execution {
  std::string id;
  std::string org;
  std::string workflow;
  int32_t batch_size = 10;
  int32_t files_total = 0;
};

class execution_store {
 public:
  explicit execution_store(pg_session& session) : session_(session) {}

  /// True when this call created it; false when it already existed.
  caf::expected<bool> create(const new_execution& x);
  caf::expected<execution_record> get(const std::string& id);
  /// The execution with live file counts while it runs (the row's counts are set only
  /// when it ends): what `postbox status`, the client and the control plane show.
  caf::expected<execution_record> progress(const std::string& id);
  /// CAS: true when the status was one of `from` and is now `to`.
  caf::expected<bool> transition(const std::string& id, std::vector<execution_status> from,
                                 execution_status to, const std::string& error = {});
  caf::error set_counts(const std::string& id, int32_t done, int32_t failed);
  /// Cancels it (postbox.cancel): STOPPED at once with its webhook, usage and on_error,
  /// or, when already terminal, nothing. An unknown id is `not_found`.
  caf::expected<cancel_outcome> cancel(const std::string& id);

  /// `headers`: the submitted message's headers (continuations), kept on the row.
  static caf::expected<bool> create(tx_context& tx, const new_execution& x,
                                    const std::string& headers = "{}");
  static caf::expected<execution_record> get(tx_context& tx, const std::string& id);
  static caf::expected<bool> transition(tx_context& tx, const std::string& id,
                                        const std::vector<execution_status>& from,
                                        execution_status to, const std::string& error = {});
  static caf::error set_counts(tx_context& tx, const std::string& id, int32_t done, int32_t failed);
  static caf::expected<cancel_outcome> cancel(tx_context& tx, const std::string& id);

 private:
  pg_session& session_;
};

}  // namespace postbox

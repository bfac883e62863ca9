// An execution as a client sees it: its record and what a cancel did.
#pragma once

#include <algorithm>
#include <cstdint>
#include <postbox/execution_status.hpp>
#include <string>

namespace postbox {

struct execution_record {
  std::string id;
  std::string org;
  std::string workflow;
  execution_status status = execution_status::queued;
  int32_t batch_size = 0;
  int32_t files_total = 0;
  int32_t files_done = 0;
  int32_t files_failed = 0;
  std::string error;
  double created_epoch = 0;
  double updated_epoch = 0;

  /// Files that never ran: of an ended execution, those neither done nor failed (a
  /// poisoned or cancelled execution's batches that never started); 0 while it runs.
  int32_t files_not_run() const {
    if (!is_terminal(status)) return 0;
    return std::max(0, files_total - files_done - files_failed);
  }
};

/// What postbox.cancel (migration 012) did.
struct cancel_outcome {
  execution_status status = execution_status::stopped;  // the status afterwards
  bool cancelled = false;  // this call stopped it (false: it was already terminal)
};

}  // namespace postbox

// Delivers outbox rows: webhooks are POSTed (Idempotency-Key: <execution_id>:<status>)
// and usage records to the usage URL (Idempotency-Key: <execution_id>:usage), retried
// with exponential backoff up to max_attempts, then marked failed. Without a usage
// URL usage rows are not touched (they stay pending: nothing claims a delivery that
// did not happen). A dispatcher that dies mid-POST hands its
// rows on when their claim lease runs out: the receiver may see a key twice,
// which is what the Idempotency-Key is for.
#pragma once

#include <caf/expected.hpp>
#include <chrono>
#include <string>

#include "persistence/outbox_store.hpp"

namespace postbox {

struct outbox_dispatcher_config {
  std::string webhook_url;  // empty: webhook rows are not claimed (they stay pending)
  int32_t max_attempts = 10;
  std::chrono::milliseconds timeout{5000};  // per POST
  std::string usage_url;                    // empty: usage rows stay pending, undelivered
  int32_t usage_max_attempts = 10;
  std::chrono::milliseconds usage_timeout{5000};
  std::chrono::milliseconds claim_lease{30000};  // a claimed row is not due again before this
  std::chrono::milliseconds backoff_base{500};
  std::chrono::milliseconds backoff_cap{60000};
  int batch = 16;
};

struct outbox_run_counts {
  int delivered = 0;  // settled: 2xx (or a webhook with no url configured)
  int retrying = 0;   // failed this time, scheduled again
  int failed = 0;     // failed for good after max_attempts
};

class outbox_dispatcher {
 public:
  outbox_dispatcher(pg_session& session, outbox_dispatcher_config cfg, std::string owner);

  /// Claims what is due and delivers it once; tests call this directly.
  caf::expected<outbox_run_counts> run_once();

 private:
  outbox_store outbox_;
  outbox_dispatcher_config cfg_;
  std::string owner_;
};

}  // namespace postbox

// What operators look at: executions, queues, nodes and dead letters, plus the
// one dead-letter action (retry). Reads only, except dead_letter_retry.
#pragma once

#include <array>
#include <caf/expected.hpp>
#include <optional>
#include <string>
#include <vector>

#include "persistence/execution_store.hpp"

namespace postbox {

struct queue_overview {
  std::string queue;
  int64_t ready = 0;
  int64_t in_flight = 0;
  int64_t delayed = 0;
  int64_t dead = 0;
  double oldest_age_s = 0;
  int64_t dedup_keys = 0;  // live messages holding a dedup key (migration 023)
  /// Under limits (migration 025): waiting for a token, waiting for a slot.
  int64_t throttled = 0;
  int64_t waiting_slot = 0;
  /// Ready messages per priority tier: [0] low, [1] normal, [2] high, [3] urgent.
  std::array<int64_t, 4> ready_by_priority{};
};

/// One limit (topology queues.<q> or limits.<key>) and what it holds back.
struct limit_overview {
  std::string scope;  // "queue" or "key"
  std::string key;
  int64_t max_in_flight = 0;  // 0: none
  double rate = 0;            // per second; 0: none
  int64_t burst = 0;
  int64_t in_use = 0;  // slots held under a live lease
  int64_t throttled = 0;
  int64_t waiting_slot = 0;
};

/// One batch of an execution, by the results its files recorded.
struct batch_overview {
  int32_t index = 0;
  int64_t done = 0;
  int64_t failed = 0;
};

struct failed_file {
  std::string file_key;
  int32_t batch_index = 0;
  std::string error;
};

struct node_overview {
  std::string name;
  std::string host;
  int32_t control_port = 0;
  int32_t http_port = 0;
  std::string roles;  // comma-separated
  int32_t pid = 0;
  double heartbeat_age_s = 0;
  double started_epoch = 0;
  bool leader = false;
};

struct dead_letter_record {
  int64_t id = 0;
  int64_t message_id = 0;
  std::string queue;
  std::string type;
  std::string execution_id;
  std::string org;
  std::string payload;
  std::string headers;
  int32_t read_ct = 0;
  int32_t attempts = 0;  // charged to it (failures, time-outs, crashes while alone)
  std::string last_error;
  std::string reason;
  double enqueued_epoch = 0;
  double dead_epoch = 0;
  std::string dead_by;
  int64_t retried_as = 0;  // the new message id once retried
};

class inspect_store {
 public:
  explicit inspect_store(pg_session& session) : session_(session) {}

  caf::expected<std::vector<execution_record>> executions(
      const std::optional<std::string>& status, const std::optional<std::string>& workflow,
      int limit);
  caf::expected<std::vector<queue_overview>> queues();
  /// Every limit with its slots in use and what waits for it.
  caf::expected<std::vector<limit_overview>> limits();
  caf::expected<std::vector<node_overview>> nodes();
  /// Newest first; payload and headers are left empty (see dead_letter).
  caf::expected<std::vector<dead_letter_record>> dead_letters(int limit);
  caf::expected<dead_letter_record> dead_letter(int64_t id);
  /// Re-enqueues it with a fresh read count; the record stays. Returns the new message id.
  caf::expected<std::vector<batch_overview>> execution_batches(const std::string& execution_id);
  caf::expected<std::vector<failed_file>> failed_files(const std::string& execution_id, int limit);
  caf::expected<int64_t> dead_letter_retry(int64_t id);
  /// Retries every dead letter of `queue` not yet retried (at most `limit`, oldest
  /// first) in one transaction; how many.
  caf::expected<int64_t> dead_letters_retry_queue(const std::string& queue, int limit = 1000);

 private:
  pg_session& session_;
};

}  // namespace postbox

// The postbox client API: what the `postbox` CLI does, for a user's own program.
// Submit executions over files, follow them, send any typed message, inspect.
//
//   postbox::client c{"host=... dbname=..."};
//   auto sub = c.submit({"docs", {"/data/in"}});          // execution_id
//   auto done = c.wait(sub->execution_id);                // terminal record
#pragma once

#include <caf/expected.hpp>
#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "persistence/execution_store.hpp"
#include "persistence/inspect_store.hpp"

namespace postbox {

struct submit_request {
  std::string workflow;
  std::vector<std::string> paths;  // files and folders (walked, sorted)
  bool upload = false;             // store contents in Postgres (nodes on other hosts)
  int32_t batch_size = 0;          // 0: the workflow's default
  std::string org;
  std::string headers = "{}";  // optional on_success / on_error continuations (JSON)
};

struct submitted {
  std::string execution_id;
  int32_t files = 0;
};

class client {
 public:
  explicit client(std::string dsn, std::string application_name = "postbox-client");
  /// With full connection options (e.g. behind a transaction-mode pooler).
  explicit client(session_options options);
  ~client();
  client(const client&) = delete;
  client& operator=(const client&) = delete;

  /// Creates the execution (QUEUED) and its orchestration message in one transaction.
  caf::expected<submitted> submit(const submit_request& req);
  /// The execution with live file counts while it runs.
  caf::expected<execution_record> status(const std::string& execution_id);
  /// Polls until the execution is terminal (or `timeout`, when non-zero, passes);
  /// `progress` sees every poll.
  caf::expected<execution_record> wait(
      const std::string& execution_id,
      const std::function<void(const execution_record&)>& progress = {},
      std::chrono::milliseconds poll = std::chrono::milliseconds(300),
      std::chrono::milliseconds timeout = std::chrono::milliseconds(0));
  /// Sends any typed message after validating its body (errors name the field);
  /// identity columns come from the body. Returns the message id.
  caf::expected<int64_t> send(const std::string& queue, const std::string& type,
                              const std::string& json_payload, const std::string& headers = "{}");
  inspect_store& inspect();
  pg_session& session();

 private:
  std::unique_ptr<pg_session> session_;
  std::unique_ptr<inspect_store> inspect_;
};

/// Files of path arguments: files as given, folders walked; absolute, sorted per folder.
caf::expected<std::vector<std::string>> collect_files(const std::vector<std::string>& paths);

/// A random (version 4) UUID string for a new execution.
std::string new_execution_id();

}  // namespace postbox

// Helpers for tests that drive whole executions through real nodes: submit as
// `postbox submit` does, read the status, wait for the one webhook.
#pragma once

#include <chrono>
#include <string>
#include <vector>

namespace postbox::test {

/// Writes `n` small files `DIR/in/PREFIX<i>.txt` and returns their paths.
std::vector<std::string> make_files(const std::string& dir, const std::string& prefix, int n);

/// Creates execution `id` of `workflow` over `files` and enqueues its orchestration,
/// in one transaction (as `postbox submit` does). Fails the test on error.
void submit_files(const std::string& dsn, const std::string& id, const std::string& workflow,
                  const std::vector<std::string>& files, int batch_size = 10,
                  const std::string& org = "");

/// The execution's status ("" when there is no such execution).
std::string execution_status(const std::string& dsn, const std::string& id);

/// Waits until the execution's webhook row is delivered: then a receiver's count is final.
bool webhook_delivered(const std::string& dsn, const std::string& id,
                       std::chrono::milliseconds deadline = std::chrono::seconds(15));

}  // namespace postbox::test

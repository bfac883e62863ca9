// Helpers for tests that drive whole executions through real nodes.
#include "support/executions.hpp"

#include <caf/test/unit_test.hpp>

#include "messages/json_codec.hpp"
#include "messages/messages.hpp"
#include "persistence/units_of_work.hpp"
#include "support/node_process.hpp"
#include "support/pg_fixture.hpp"

namespace postbox::test {

std::vector<std::string> make_files(const std::string& dir, const std::string& prefix, int n) {
  std::vector<std::string> files;
  for (int i = 0; i < n; ++i)
    files.push_back(write_file(dir + "/in/" + prefix + std::to_string(i) + ".txt",
                               "content " + std::to_string(i) + "\n"));
  return files;
}

void submit_files(const std::string& dsn, const std::string& id, const std::string& workflow,
                  const std::vector<std::string>& files, int batch_size, const std::string& org) {
  pg_session s{{dsn, "test-submit"}};
  execute_workflow msg;
  msg.workflow = workflow;
  msg.execution_id = id;
  msg.org = org;
  msg.files = files;
  outgoing_message m;
  m.queue = orchestrator_queue;
  m.type = execute_workflow_type;
  m.execution_id = id;
  m.org = org;
  m.payload = to_json(msg);
  auto err =
      submit_execution(s, {id, org, workflow, batch_size, static_cast<int32_t>(files.size())}, m);
  if (err) CAF_FAIL("submit failed: " << describe(err));
}

std::string execution_status(const std::string& dsn, const std::string& id) {
  return scalar(dsn, "SELECT status FROM postbox.executions WHERE id = '" + id + "'");
}

bool webhook_delivered(const std::string& dsn, const std::string& id,
                       std::chrono::milliseconds deadline) {
  return wait_until(
      [&] {
        return count(dsn,
                     "SELECT count(*) FROM postbox.outbox WHERE kind = 'webhook' AND state = "
                     "'delivered' AND execution_id = '" +
                         id + "'") == 1;
      },
      deadline, std::chrono::milliseconds(100));
}

}  // namespace postbox::test

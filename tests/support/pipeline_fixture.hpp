// Header-only helpers of the pipeline and maintenance suites: a one-node topology, temp input
// files, submissions, and a synchronous drain of the three pipeline queues (no node processes).
#pragma once

#include <unistd.h>

#include <atomic>
#include <caf/test/unit_test.hpp>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <memory>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "actors/pipeline/pipeline.hpp"
#include "actors/pipeline/processors/processor.hpp"
#include "config/topology.hpp"
#include "messages/json_codec.hpp"
#include "messages/messages.hpp"
#include "persistence/execution_store.hpp"
#include "persistence/mailbox_store.hpp"
#include "persistence/pg_session.hpp"
#include "persistence/units_of_work.hpp"
#include "support/pg_fixture.hpp"

namespace postbox::test {

/// The workflows every pipeline test may use: `counted` is the registered counting processor.
inline std::string pipeline_yaml() {
  return R"(database: {dsn: 'x'}
queues:
  orchestrator: {visibility_timeout: 30s, max_attempts: 3}
  file_batch: {visibility_timeout: 30s, max_attempts: 3}
  callback: {visibility_timeout: 30s, max_attempts: 5}
workflows:
  docs: {processor: checksum, batch_size: 10}
  chaos: {processor: chaos, batch_size: 2, options: {fail_on: "*.fail"}}
  slow: {processor: exec, batch_size: 1, options: {argv: ["/bin/sleep", "5"], timeout: 300ms}}
  counted: {processor: counted, batch_size: 10}
  counted_slowly: {processor: counted_slowly, batch_size: 3}
  nul: {processor: exec, batch_size: 2, options: {argv: ["/usr/bin/printf", '{"a":"x\\u0000y"}'], timeout: 5s}}
nodes:
  a:
    actors:
      - {role: orchestrator}
      - {role: file_batch}
      - {role: callback}
      - {role: reaper}
      - {role: outbox}
  b:
    actors:
      - {queue: user}
)";
}

inline topology load_pipeline_topology() {
  auto t = load_topology_string(pipeline_yaml(), "test.yaml", {"counted", "counted_slowly"});
  if (!t) throw std::runtime_error("topology: " + describe(t.error()));
  return std::move(*t);
}

/// Succeeds on every file and counts its calls in a counter shared by all its instances.
class counting_processor : public processor {
 public:
  explicit counting_processor(std::shared_ptr<std::atomic<int>> calls,
                              std::chrono::milliseconds pause = std::chrono::milliseconds(0))
      : calls_(std::move(calls)), pause_(pause) {}
  processor_outcome process(const file_input& in) override {
    if (pause_.count() > 0) std::this_thread::sleep_for(pause_);
    ++*calls_;
    return {true, R"({"counted":")" + in.name + R"("})", ""};
  }

 private:
  std::shared_ptr<std::atomic<int>> calls_;
  std::chrono::milliseconds pause_;
};

/// The built-ins plus `counted` and `counted_slowly` (600 ms a file), counting into `calls`.
inline processor_registry pipeline_registry(std::shared_ptr<std::atomic<int>> calls) {
  auto reg = processor_registry::with_builtins();
  reg.add("counted", [calls](const std::string&) -> caf::expected<std::unique_ptr<processor>> {
    return std::unique_ptr<processor>(new counting_processor(calls));
  });
  reg.add("counted_slowly",
          [calls](const std::string&) -> caf::expected<std::unique_ptr<processor>> {
            return std::unique_ptr<processor>(
                new counting_processor(calls, std::chrono::milliseconds(600)));
          });
  return reg;
}

/// A mkdtemp folder, removed with everything in it.
struct temp_dir {
  std::string path;
  temp_dir() {
    char tmpl[] = "/tmp/postbox-pipe-XXXXXX";
    if (!::mkdtemp(tmpl)) throw std::runtime_error("mkdtemp failed");
    path = tmpl;
  }
  ~temp_dir() {
    std::error_code ec;
    std::filesystem::remove_all(path, ec);
  }
  temp_dir(const temp_dir&) = delete;
  temp_dir& operator=(const temp_dir&) = delete;

  std::string file(const std::string& name, const std::string& content) {
    auto p = path + "/" + name;
    std::ofstream(p, std::ios::binary) << content;
    return p;
  }
  /// `n` files prefix0..prefix{n-1}; each with distinct content.
  std::vector<std::string> files(int n, const std::string& prefix = "f",
                                 const std::string& suffix = ".txt") {
    std::vector<std::string> out;
    for (int i = 0; i < n; ++i)
      out.push_back(
          file(prefix + std::to_string(i) + suffix, "content of file " + std::to_string(i) + "\n"));
    return out;
  }
};

/// Headers with an on_success and/or on_error continuation to queue `hooks`.
inline std::string continuation_headers(bool on_success, bool on_error,
                                        const std::string& caller_payload = R"({"ticket":7})") {
  message_headers h;
  if (on_success) {
    h.has_on_success = true;
    h.on_success = continuation{"hooks", "notify_done", caller_payload};
  }
  if (on_error) {
    h.has_on_error = true;
    h.on_error = continuation{"hooks", "notify_failed", caller_payload};
  }
  return to_json(h);
}

/// One worker's own connection and handler context (for concurrency tests).
struct worker {
  handler_registry handlers;
  pg_session session;
  handler_context ctx;
  worker(const std::string& dsn, const topology& t, const processor_registry& r,
         const std::string& name)
      : handlers(pipeline_handlers(r)),
        session(session_options{dsn, name}),
        ctx(session, t, handlers, "a/" + name) {}
};

/// A fresh database, the test topology and a handler context on one session.
struct pipeline_fixture {
  std::string dsn;
  topology topo = load_pipeline_topology();
  std::shared_ptr<std::atomic<int>> counted_calls = std::make_shared<std::atomic<int>>(0);
  processor_registry registry = pipeline_registry(counted_calls);
  handler_registry handlers = pipeline_handlers(registry);
  pg_session session;
  handler_context ctx;
  mailbox_store mailbox;
  execution_store executions;
  temp_dir dir;

  explicit pipeline_fixture(const std::string& label = "pipeline")
      : dsn(create_migrated_database(label)),
        session(session_options{dsn, "pipeline-test"}),
        ctx(session, topo, handlers, "a/test"),
        mailbox(session),
        executions(session) {}

  /// The execute_workflow message of an execution, as a client sends it.
  static outgoing_message orchestration(const std::string& id, const std::string& workflow,
                                        const std::vector<std::string>& files, int32_t batch_size,
                                        const std::string& headers = "{}") {
    execute_workflow body;
    body.org = "org-1";
    body.workflow = workflow;
    body.execution_id = id;
    body.files = files;
    body.batch_size = batch_size;
    outgoing_message m;
    m.queue = orchestrator_queue;
    m.type = execute_workflow_type;
    m.execution_id = id;
    m.org = "org-1";
    m.payload = to_json(body);
    m.headers = headers;
    return m;
  }

  /// Creates the execution (QUEUED) and enqueues its orchestration, like `postbox submit`.
  void submit(const std::string& id, const std::string& workflow,
              const std::vector<std::string>& files, int32_t batch_size = 0,
              const std::string& headers = "{}") {
    new_execution e;
    e.id = id;
    e.org = "org-1";
    e.workflow = workflow;
    e.batch_size = batch_size > 0 ? batch_size : 10;
    e.files_total = static_cast<int32_t>(files.size());
    auto err =
        submit_execution(session, e, orchestration(id, workflow, files, batch_size, headers));
    if (err) CAF_FAIL("submit failed: " << describe(err));
  }

  /// Reads what is visible on `queue` and handles it like a consumer (deliveries past
  /// max_attempts are poisoned); returns how many deliveries were handled.
  int step(const std::string& queue, int max = 200) {
    auto got = mailbox.read(queue, max, std::chrono::seconds(30), "a/test");
    if (!got) CAF_FAIL("read failed: " << describe(got.error()));
    const int32_t max_attempts = topo.queue(queue).max_attempts;
    for (const auto& d : *got) {
      handler_result r = attempts_exhausted(d, max_attempts)
                             ? poison(ctx, d, attempts_exhausted_reason(d, max_attempts))
                             : handle_delivery(ctx, d);
      if (r.what != handled::acked)
        CAF_MESSAGE("message " << d.id << " (" << d.type << ") " << to_string(r.what) << ": "
                               << r.detail);
      results.push_back(r);
    }
    return static_cast<int>(got->size());
  }

  /// Steps through orchestrator, file_batch and callback until none gives anything.
  int drain() {
    int total = 0;
    for (int round = 0; round < 1000; ++round) {
      int n = step(orchestrator_queue) + step(file_batch_queue) + step(callback_queue);
      total += n;
      if (n == 0) return total;
    }
    CAF_FAIL("the pipeline did not drain");
    return total;
  }

  /// Reads every visible message of `queue` without handling it (the deliveries to hold).
  std::vector<delivery> hold(const std::string& queue, int max = 200,
                             std::chrono::milliseconds vt = std::chrono::seconds(60)) {
    auto got = mailbox.read(queue, max, vt, "a/holder");
    if (!got) CAF_FAIL("read failed: " << describe(got.error()));
    return std::move(*got);
  }

  /// Reads `queue`'s one visible message and fails it (charged, delay 0) with `error`,
  /// `times` times: its next read has attempts = times, read_ct = times + 1.
  void fail_deliveries(const std::string& queue, int times, const std::string& error) {
    for (int i = 0; i < times; ++i) {
      auto got = mailbox.read(queue, 1, std::chrono::seconds(30), "a/crashy");
      if (!got || got->size() != 1) CAF_FAIL("expected one delivery on " << queue);
      if (auto n = mailbox.fail(got->front().to_lease(), std::chrono::milliseconds(0), error); !n)
        CAF_FAIL("fail failed: " << describe(n.error()));
    }
  }

  long long n(const std::string& sql) const { return count(dsn, sql); }
  std::string text(const std::string& sql) const { return scalar(dsn, sql); }
  std::string status(const std::string& id) const {
    return scalar(dsn, "SELECT status FROM postbox.executions WHERE id = '" + id + "'");
  }
  long long outbox_rows(const std::string& id, const std::string& kind) const {
    return count(dsn, "SELECT count(*) FROM postbox.outbox WHERE execution_id = '" + id +
                          "' AND kind = '" + kind + "'");
  }
  long long queued(const std::string& queue) const {
    return count(dsn, "SELECT count(*) FROM postbox.mailbox WHERE queue = '" + queue + "'");
  }
  /// Messages on `queue` of execution `id`, or (a continuation, outside it) naming it.
  long long queued(const std::string& queue, const std::string& id) const {
    return count(dsn, "SELECT count(*) FROM postbox.mailbox WHERE queue = '" + queue +
                          "' AND (execution_id = '" + id +
                          "' OR (execution_id IS NULL AND payload->>'execution_id' = '" + id +
                          "'))");
  }

  std::vector<handler_result> results;
};

/// True when `haystack` contains `needle`; the caller's CHECK prints both on a miss.
inline bool contains(const std::string& haystack, const std::string& needle) {
  return haystack.find(needle) != std::string::npos;
}

}  // namespace postbox::test

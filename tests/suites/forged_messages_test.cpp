// Messages that claim more than they may: a stray execution_callback (its barrier has
// not fired) completes nothing (guarantee 9), and a message whose envelope and body
// name different executions is dead-lettered, for every message type.
#define CAF_SUITE forged_messages
#include <caf/test/unit_test.hpp>
#include <future>

#include "support/pipeline_fixture.hpp"
#include "support/values.hpp"

using namespace postbox;
using postbox::test::contains;
using postbox::test::value_of;
using namespace std::chrono_literals;

namespace {

struct fixture : test::pipeline_fixture {
  fixture() : test::pipeline_fixture("forged") {}

  /// An execution_callback for `body_id` with `envelope_id` in the envelope columns.
  void send_callback(const std::string& envelope_id, const std::string& body_id,
                     const std::string& headers = "{}") {
    CAF_REQUIRE(mailbox.send({callback_queue, execution_callback_type, envelope_id, "org-1",
                              to_json(execution_callback{body_id}), headers, 0ms}));
  }

  long long dead_letters(const std::string& where) const {
    return n("SELECT count(*) FROM postbox.dead_letters WHERE " + where);
  }

  /// Handles the visible file batches naming `files` (each must be dead-lettered) and gives
  /// every other one back; returns how many it handled.
  int dead_letter_batches_naming(const std::vector<std::string>& files) {
    int handled = 0;
    for (const auto& d : hold(file_batch_queue)) {
      if (value_of(decode_process_file_batch(d.payload)).files != files) {
        CAF_REQUIRE(!mailbox.nack(d.to_lease(), 0ms, "not now"));
        continue;
      }
      auto r = handle_delivery(ctx, d);
      CAF_CHECK_EQUAL(to_string(r.what), std::string("dead_lettered"));
      CAF_MESSAGE("reason: " << r.detail);
      ++handled;
    }
    return handled;
  }

  /// Handles `d` on a second connection (for the races below).
  handler_result handle_elsewhere(const delivery& d) {
    test::worker w{dsn, topo, registry, "w-race"};
    if (auto err = w.session.connect()) CAF_FAIL("connect: " << describe(err));
    return handle_delivery(w.ctx, d);
  }
};

}  // namespace

CAF_TEST_FIXTURE_SCOPE(forged_message_tests, fixture)

CAF_TEST(a stray callback for a running execution is dead lettered and completes nothing) {
  auto files = dir.files(10);
  submit("e-stray", "docs", files, 2);  // 5 batches
  CAF_REQUIRE_EQUAL(step(orchestrator_queue), 1);
  auto first = hold(file_batch_queue, 1);
  CAF_REQUIRE_EQUAL(first.size(), 1u);
  CAF_REQUIRE_EQUAL(handle_delivery(ctx, first.front()).detail, "done");
  // What `postbox send --queue callback --type execution_callback` stores, with
  // continuations that must not fire either.
  send_callback("e-stray", "e-stray", test::continuation_headers(true, true));
  results.clear();
  CAF_CHECK_EQUAL(step(callback_queue), 1);
  CAF_REQUIRE_EQUAL(results.size(), 1u);
  CAF_CHECK_EQUAL(to_string(results[0].what), std::string("dead_lettered"));
  CAF_MESSAGE("reason: " << results[0].detail);
  CAF_CHECK_EQUAL(dead_letters("execution_id = 'e-stray' AND type = 'execution_callback' AND "
                               "reason LIKE '%before its barrier fired (4 of 5 batches still "
                               "expected)%' AND reason LIKE '%stray callback%'"),
                  1);
  // Nothing else changed: still running, no outbox row, no continuation, batches untouched.
  CAF_CHECK_EQUAL(status("e-stray"), "EXECUTING");
  CAF_CHECK_EQUAL(n("SELECT count(*) FROM postbox.outbox"), 0);
  CAF_CHECK_EQUAL(queued("hooks"), 0);
  CAF_CHECK_EQUAL(queued(file_batch_queue), 4);
  CAF_CHECK_EQUAL(n("SELECT count(*) FROM postbox.claims WHERE state = 'active'"), 1);
  // The execution then completes normally, with every file and one webhook.
  drain();
  auto e = value_of(executions.get("e-stray"));
  CAF_CHECK_EQUAL(to_string(e.status), std::string("COMPLETED"));
  CAF_CHECK_EQUAL(e.files_done, 10);
  CAF_CHECK_EQUAL(e.files_done, e.files_total);
  CAF_CHECK_EQUAL(outbox_rows("e-stray", "webhook"), 1);
  CAF_CHECK_EQUAL(text("SELECT payload->>'files_done' FROM postbox.outbox WHERE kind = 'webhook'"),
                  "10");
  CAF_CHECK_EQUAL(dead_letters("true"), 1);
  CAF_CHECK_EQUAL(n("SELECT count(*) FROM postbox.mailbox"), 0);
}

CAF_TEST(a stray callback for an execution that never started is dead lettered) {
  submit("e-queued", "docs", dir.files(3), 2);
  send_callback("e-queued", "e-queued");
  results.clear();
  CAF_CHECK_EQUAL(step(callback_queue), 1);
  CAF_REQUIRE_EQUAL(results.size(), 1u);
  CAF_CHECK_EQUAL(to_string(results[0].what), std::string("dead_lettered"));
  CAF_CHECK_EQUAL(
      dead_letters("execution_id = 'e-queued' AND reason LIKE '%with no barrier armed%'"), 1);
  CAF_CHECK_EQUAL(status("e-queued"), "QUEUED");
  drain();
  CAF_CHECK_EQUAL(status("e-queued"), "COMPLETED");
  CAF_CHECK_EQUAL(value_of(executions.get("e-queued")).files_done, 3);
  CAF_CHECK_EQUAL(outbox_rows("e-queued", "webhook"), 1);
}

CAF_TEST(a stray callback racing the last batch never completes an execution early) {
  for (int round = 0; round < 6; ++round) {
    const std::string id = "e-race-" + std::to_string(round);
    submit(id, "docs", dir.files(4, "r" + std::to_string(round) + "-"), 2);  // 2 batches
    CAF_REQUIRE_EQUAL(step(orchestrator_queue), 1);
    auto batches = hold(file_batch_queue);
    CAF_REQUIRE_EQUAL(batches.size(), 2u);
    CAF_REQUIRE_EQUAL(handle_delivery(ctx, batches[0]).detail, "done");
    send_callback(id, id);
    auto stray = hold(callback_queue);
    CAF_REQUIRE_EQUAL(stray.size(), 1u);
    // The last batch and the stray callback at once, on two connections.
    auto other = std::async(std::launch::async, [&] { return handle_elsewhere(batches[1]); });
    auto cb = handle_delivery(ctx, stray.front());
    auto last = other.get();
    CAF_MESSAGE("round " << round << ": callback " << to_string(cb.what) << " (" << cb.detail
                         << "), batch " << last.detail);
    CAF_CHECK_EQUAL(last.detail, "done; its group's callback fired");
    // Whichever came first, COMPLETED is never seen with files missing.
    if (status(id) == "COMPLETED") CAF_CHECK_EQUAL(value_of(executions.get(id)).files_done, 4);
    drain();
    auto e = value_of(executions.get(id));
    CAF_CHECK_EQUAL(to_string(e.status), std::string("COMPLETED"));
    CAF_CHECK_EQUAL(e.files_done, 4);
    CAF_CHECK_EQUAL(outbox_rows(id, "webhook"), 1);
    CAF_CHECK_EQUAL(text("SELECT payload->>'files_done' FROM postbox.outbox WHERE kind = "
                         "'webhook' AND execution_id = '" +
                         id + "'"),
                    "4");
  }
  CAF_CHECK_EQUAL(n("SELECT count(*) FROM postbox.mailbox"), 0);
}

CAF_TEST(a batch whose envelope and body name different executions is dead lettered) {
  submit("e-a", "docs", dir.files(2, "a"), 2);
  submit("e-b", "docs", dir.files(2, "b"), 2);
  CAF_REQUIRE_EQUAL(step(orchestrator_queue), 2);
  process_file_batch forged;
  forged.execution_id = "e-b";
  forged.workflow = "docs";
  forged.org = "org-1";
  forged.batch_index = 0;
  forged.files = {dir.file("forged.txt", "not e-b's\n")};
  CAF_REQUIRE(mailbox.send(
      {file_batch_queue, process_file_batch_type, "e-a", "org-1", to_json(forged), "{}", 0ms}));
  CAF_CHECK_EQUAL(dead_letter_batches_naming(forged.files), 1);  // e-b's two given back
  CAF_CHECK_EQUAL(dead_letters("type = 'process_file_batch' AND execution_id = 'e-a' AND "
                               "reason LIKE '%envelope execution_id ''e-a'' differs from the "
                               "body''s ''e-b''%'"),
                  1);
  // Nothing of it reached e-b: no result, no arrival at its barrier.
  CAF_CHECK_EQUAL(n("SELECT count(*) FROM postbox.file_results WHERE file_key LIKE '%forged%'"), 0);
  CAF_CHECK_EQUAL(n("SELECT count(*) FROM postbox.barrier_arrivals"), 0);
  drain();
  CAF_CHECK_EQUAL(status("e-b"), "COMPLETED");
  CAF_CHECK_EQUAL(value_of(executions.get("e-b")).files_done, 2);
  CAF_CHECK_EQUAL(outbox_rows("e-b", "webhook"), 1);
  // The envelope names the message's identity: that execution ends in ERROR, once.
  CAF_CHECK_EQUAL(status("e-a"), "ERROR");
  CAF_CHECK_EQUAL(outbox_rows("e-a", "webhook"), 1);
}

CAF_TEST(a batch sent by hand to a running execution reads nothing and changes nothing) {
  auto files = dir.files(4);
  submit("e-run", "docs", files, 2);  // 2 batches
  CAF_REQUIRE_EQUAL(step(orchestrator_queue), 1);
  // Batch 0 again, naming /etc/passwd: by SQL (postbox.send, with the group header of
  // batch 0) and as `postbox send` stores it (no group header).
  process_file_batch forged;
  forged.execution_id = "e-run";
  forged.workflow = "docs";
  forged.org = "org-1";
  forged.batch_index = 0;
  forged.files = {"/etc/passwd"};
  test::exec(dsn, "SELECT postbox.send('" + std::string(file_batch_queue) + "', '" +
                      process_file_batch_type + "', '" + to_json(forged) +
                      "'::jsonb, '{\"group\": {\"id\": \"e-run\", \"index\": 0}}'::jsonb)");
  forged.batch_index = 7;  // an index the execution does not have
  CAF_REQUIRE(mailbox.send(
      {file_batch_queue, process_file_batch_type, "e-run", "org-1", to_json(forged), "{}", 0ms}));
  CAF_CHECK_EQUAL(dead_letter_batches_naming(forged.files), 2);
  CAF_CHECK_EQUAL(dead_letters("type = 'process_file_batch' AND execution_id = 'e-run' AND "
                               "reason LIKE '%is not one of the batches its orchestration "
                               "enqueued%a stray batch runs nothing%'"),
                  2);
  // Not read, not recorded, not counted; the execution completes with its own counts.
  CAF_CHECK_EQUAL(n("SELECT count(*) FROM postbox.file_results WHERE file_key = '/etc/passwd'"), 0);
  CAF_CHECK_EQUAL(n("SELECT count(*) FROM postbox.barrier_arrivals"), 0);
  CAF_CHECK_EQUAL(status("e-run"), "EXECUTING");
  drain();
  CAF_CHECK_EQUAL(status("e-run"), "COMPLETED");
  CAF_CHECK_EQUAL(value_of(executions.get("e-run")).files_done, 4);
  CAF_CHECK_EQUAL(n("SELECT count(*) FROM postbox.file_results WHERE execution_id = 'e-run'"), 4);
  CAF_CHECK_EQUAL(outbox_rows("e-run", "webhook"), 1);
  CAF_CHECK_EQUAL(n("SELECT count(*) FROM postbox.outbox WHERE kind = 'webhook' AND "
                    "payload->>'files_done' = '4' AND payload->>'files_total' = '4'"),
                  1);
  CAF_CHECK_EQUAL(dead_letters("true"), 2);
}

CAF_TEST(a callback whose envelope and body name different executions is dead lettered) {
  submit("e-b", "docs", dir.files(2), 2);
  CAF_REQUIRE_EQUAL(step(orchestrator_queue), 1);
  CAF_REQUIRE_EQUAL(step(file_batch_queue), 1);
  auto real = hold(callback_queue);  // e-b's own callback, held back for now
  CAF_REQUIRE_EQUAL(real.size(), 1u);
  send_callback("e-other", "e-b");
  results.clear();
  CAF_CHECK_EQUAL(step(callback_queue), 1);
  CAF_REQUIRE_EQUAL(results.size(), 1u);
  CAF_CHECK_EQUAL(to_string(results[0].what), std::string("dead_lettered"));
  CAF_CHECK_EQUAL(dead_letters("type = 'execution_callback' AND execution_id = 'e-other' AND "
                               "reason LIKE '%envelope execution_id ''e-other'' differs from the "
                               "body''s ''e-b''%'"),
                  1);
  CAF_CHECK_EQUAL(status("e-b"), "EXECUTING");
  CAF_CHECK_EQUAL(outbox_rows("e-b", "webhook"), 0);
  CAF_CHECK_EQUAL(handle_delivery(ctx, real.front()).detail, "callback completed");
  CAF_CHECK_EQUAL(status("e-b"), "COMPLETED");
  CAF_CHECK_EQUAL(outbox_rows("e-b", "webhook"), 1);
}

CAF_TEST(an orchestration whose envelope and body name different executions is dead lettered) {
  auto m = orchestration("e-body", "docs", dir.files(2), 2);
  m.execution_id = "e-envelope";
  CAF_REQUIRE(mailbox.send(m));
  drain();
  CAF_CHECK_EQUAL(dead_letters("type = 'execute_workflow' AND execution_id = 'e-envelope' AND "
                               "reason LIKE '%envelope execution_id ''e-envelope'' differs from "
                               "the body''s ''e-body''%'"),
                  1);
  CAF_CHECK_EQUAL(n("SELECT count(*) FROM postbox.barriers"), 0);
}

CAF_TEST_FIXTURE_SCOPE_END()

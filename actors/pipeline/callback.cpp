// execution_callback: the fan-in of an execution's batches. Completes the execution
// once (status, counts, webhook and usage outbox rows, tombstone, on_success) in the
// transaction that acks it; a callback whose barrier has not fired is stray and is
// dropped (dead-lettered, nothing else). Written on the public runtime API only.
#include <map>

#include "actors/pipeline/pipeline.hpp"
#include "actors/pipeline/pipeline_sql.hpp"
#include "messages/json_codec.hpp"
#include "messages/messages.hpp"

namespace postbox {

namespace {

/// Inside the ack's transaction: CAS EXECUTING -> COMPLETED, then everything that
/// goes with it. False (no on_success) when a prior delivery completed it or it
/// ended otherwise (a poisoned batch failed it).
caf::expected<bool> complete(sql_tx& tx, const std::string& id, bool fence_here) {
  // The ack took the execution's fence exclusively before this step (in_ack below):
  // every batch recording results has committed, and a cancel either committed first
  // (then this step does not run) or waits for this transaction and finds COMPLETED.
  // A callback with no execution in its envelope (sent by hand) takes it here, first.
  if (fence_here)
    if (auto f = tx.query(pipeline_sql("executions_fence"), {id}); !f) return f.error();
  auto moved =
      tx.query(pipeline_sql("executions_transition"), {id, "{EXECUTING}", "COMPLETED", {}});
  if (!moved) return moved.error();
  if (moved->empty()) {
    auto now = tx.query(pipeline_sql("executions_get"), {id});
    if (!now) return now.error();
    bool done = !now->empty() && (*now)[0][3] == std::string("COMPLETED");
    tx.note(done ? "callback already_completed" : "callback not_executing");
    // An execution that ended otherwise (a poisoned batch, the stranded sweep) arrives
    // at a group around it as failed, with its error.
    if (!done)
      tx.arrive_as_error(now->empty() ? "execution " + id + " is gone"
                                      : (*now)[0][8].value_or("execution " + id + " " +
                                                              (*now)[0][3].value_or("?")));
    return false;
  }
  auto counts = tx.query(pipeline_sql("file_results_counts"), {id});
  if (!counts) return counts.error();
  if (auto r =
          tx.execute(pipeline_sql("executions_set_counts"), {id, (*counts)[0][0], (*counts)[0][1]});
      !r)
    return r.error();
  if (auto r = tx.execute(pipeline_sql("outbox_enqueue_terminal"), {id}); !r) return r.error();
  if (auto r = tx.execute(pipeline_sql("claims_tombstone"), {id, "callback"}); !r) return r.error();
  tx.note("callback completed");
  return true;
}

}  // namespace

outcome complete_execution(context& ctx, const json_text& body) {
  auto msg = decode_execution_callback(body.text);
  if (!msg) return outcome::reject("undecodable execution_callback: " + describe(msg.error()));
  if (auto mismatch = execution_id_mismatch(ctx.execution_id(), msg->execution_id))
    return outcome::reject(*mismatch);
  // Guarantee 9: COMPLETED only after every batch arrived. A barrier that has fired
  // stays fired, so this read cannot be overtaken.
  auto barrier = ctx.query(pipeline_sql("barrier_get"), {msg->execution_id});
  if (!barrier) return outcome::from(barrier.error());
  if (barrier->empty() || (*barrier)[0][2] != std::string("t")) {
    std::string state =
        barrier->empty() ? "with no barrier armed (the execution never started its batches)"
                         : "before its barrier fired (" + (*barrier)[0][1].value_or("?") + " of " +
                               (*barrier)[0][0].value_or("?") + " batches still expected)";
    return outcome::drop("execution_callback for execution '" + msg->execution_id + "' " + state +
                         ": a stray callback completes nothing");
  }
  // Only the callback the group enqueued completes it (a duplicate sent by hand after
  // the fire would otherwise complete it with its own continuations).
  const auto& fired_by = (*barrier)[0][3];
  if (fired_by && *fired_by != std::to_string(ctx.message_id()))
    return outcome::drop("execution_callback for execution '" + msg->execution_id +
                         "' that is not its group's callback (message " + *fired_by +
                         "): completes nothing");
  ctx.in_ack([id = msg->execution_id, fence_here = ctx.execution_id().empty()](
                 sql_tx& tx) { return complete(tx, id, fence_here); },
             execution_fence::exclusive);
  return outcome::ok(std::map<std::string, std::string>{{"execution_id", msg->execution_id},
                                                        {"status", "COMPLETED"}});
}

}  // namespace postbox

// execute_workflow: split an execution's files into batches and fan them out, with
// the execution callback as the fan-in, in the transaction that acks it, guarded by
// the execution's claim and its QUEUED -> EXECUTING transition. Written on the public
// runtime API only.
#include <atomic>
#include <csignal>
#include <cstdlib>

#include "actors/pipeline/pipeline.hpp"
#include "actors/pipeline/pipeline_sql.hpp"
#include "config/topology.hpp"
#include "messages/execution_status.hpp"
#include "messages/json_codec.hpp"
#include "messages/messages.hpp"

namespace postbox {

namespace {

/// What the start step needs, captured by value (it runs after the handler returns).
struct start_params {
  std::string execution_id;
  std::string org;
  std::string workflow;
  int32_t batch_size = 0;
  int32_t files_total = 0;
  std::string headers;
  std::string owner;
  int64_t message_id = 0;
  int64_t fencing_token = 0;
  /// The message named no execution in its envelope, so its ack took no fence.
  bool fence_here = false;
};

/// Inside the ack's transaction: the fenced claim, the execution row, the CAS to
/// EXECUTING. False (the batches are not sent) when another message holds the claim,
/// the execution finished earlier, or an earlier delivery started it.
caf::expected<bool> start(sql_tx& tx, const start_params& p) {
  // The ack took the execution's fence (shared) before this step, as every transaction
  // that locks the claim and the execution's row takes it: a cancel either committed
  // first (then this step does not run) or waits until this start has committed. A
  // message with no execution in its envelope (sent by hand) takes it here, first.
  if (p.fence_here) {
    auto stopped = tx.query(pipeline_sql("executions_fence_stopped"), {p.execution_id});
    if (!stopped) return stopped.error();
    if (!stopped->empty() && (*stopped)[0][0] == std::string("t")) {
      tx.note("orchestration of a cancelled execution");
      return false;
    }
  }
  auto claim = tx.query(
      pipeline_sql("claims_try_claim"),
      {p.execution_id, p.owner, std::to_string(p.message_id), std::to_string(p.fencing_token)});
  if (!claim) return claim.error();
  if (claim->empty()) {
    auto cur = tx.query(pipeline_sql("claims_get"), {p.execution_id});
    if (!cur) return cur.error();
    bool tomb = !cur->empty() && (*cur)[0][0] == std::string("tombstone");
    tx.note(tomb ? "orchestration tombstoned" : "orchestration claim_held");
    return false;
  }
  // Fault tests freeze the node here, holding the claim; once per process.
  static std::atomic<bool> stop_once{true};
  if (const char* hook = std::getenv("POSTBOX_TEST_STOP_AFTER_CLAIM"); hook && *hook == '1')
    if (stop_once.exchange(false)) std::raise(SIGSTOP);
  auto created = tx.execute(pipeline_sql("executions_create"),
                            {p.execution_id, p.org, p.workflow, std::to_string(p.batch_size),
                             std::to_string(p.files_total), p.headers});
  if (!created) return created.error();
  auto status = tx.query(pipeline_sql("executions_get"), {p.execution_id});
  if (!status) return status.error();
  if (status->empty()) return make_error(errc::not_found, "execution " + p.execution_id);
  auto st = parse_execution_status((*status)[0][3].value_or(""));
  if (st && is_terminal(*st)) {
    auto tomb = tx.execute(pipeline_sql("claims_tombstone"), {p.execution_id, p.owner});
    if (!tomb) return tomb.error();
    tx.note("orchestration already_terminal");
    return false;
  }
  auto moved = tx.query(pipeline_sql("executions_transition"),
                        {p.execution_id, "{QUEUED}", "EXECUTING", {}});
  if (!moved) return moved.error();
  if (moved->empty()) {
    tx.note("orchestration not_queued");
    return false;
  }
  tx.note("orchestration started");
  return true;
}

}  // namespace

outcome orchestrate(context& ctx, const json_text& body) {
  auto msg = decode_execute_workflow(body.text);
  if (!msg) return outcome::reject("undecodable execute_workflow: " + describe(msg.error()));
  if (auto mismatch = execution_id_mismatch(ctx.execution_id(), msg->execution_id))
    return outcome::reject(*mismatch);
  auto wf = ctx.topology().workflows.find(msg->workflow);
  if (wf == ctx.topology().workflows.end())
    // Maybe only this node's topology lacks it (a rolling deploy): back off and let
    // another node try; max_attempts still ends it if no node knows it.
    return outcome::from(make_error(
        errc::config_error, "unknown workflow '" + msg->workflow + "' in this node's topology"));
  int32_t batch_size = msg->batch_size > 0 ? msg->batch_size : wf->second.batch_size;
  if (batch_size <= 0) batch_size = 10;
  std::vector<std::string> files = msg->files;
  for (const auto& id : msg->blob_ids) files.push_back("blob:" + id);
  if (files.empty())
    return outcome::reject("execution " + msg->execution_id + " has no files to process");

  // The execution's continuations fire when it ends: on its callback. Its batches
  // carry only on_error (a poisoned batch fails the execution).
  message_headers continuations = ctx.take_continuations();
  // Marked as the execution's own: fired when it ends, outside it, its on_error once.
  continuations.on_success.ends_execution = continuations.has_on_success;
  continuations.on_error.ends_execution = continuations.has_on_error;
  message_headers batch_headers;
  batch_headers.has_on_error = continuations.has_on_error;
  batch_headers.on_error = continuations.on_error;

  std::vector<message_out> batches;
  for (size_t first = 0, index = 0; first < files.size(); first += batch_size, ++index) {
    process_file_batch batch;
    batch.execution_id = msg->execution_id;
    batch.workflow = msg->workflow;
    batch.org = msg->org;
    batch.batch_index = static_cast<int32_t>(index);
    auto last = std::min(files.size(), first + static_cast<size_t>(batch_size));
    batch.files.assign(files.begin() + first, files.begin() + last);
    auto m = message_out::json(file_batch_queue, process_file_batch_type, to_json(batch));
    m.execution_id = msg->execution_id;
    m.org = msg->org;
    m.headers = batch_headers;
    batches.push_back(std::move(m));
  }
  auto callback = message_out::json(callback_queue, execution_callback_type,
                                    to_json(execution_callback{msg->execution_id}));
  callback.execution_id = msg->execution_id;
  callback.org = msg->org;
  callback.headers = continuations;

  start_params p;
  p.execution_id = msg->execution_id;
  p.org = msg->org;
  p.workflow = msg->workflow;
  p.batch_size = batch_size;
  p.files_total = static_cast<int32_t>(files.size());
  p.headers = to_json(continuations);
  p.owner = ctx.owner();
  p.message_id = ctx.message_id();
  p.fencing_token = ctx.fencing_token();
  p.fence_here = ctx.execution_id().empty();
  ctx.in_ack([p](sql_tx& tx) { return start(tx, p); });
  // The execution's group has its id: one barrier per execution, as before.
  ctx.fan_out(std::move(batches), std::move(callback), msg->execution_id);
  return {};
}

}  // namespace postbox

// execute_workflow: split the files into batches and start the execution in one
// transaction (ack + fenced claim + EXECUTING + barrier + batches).
#include <atomic>
#include <csignal>
#include <cstdlib>

#include "actors/pipeline/pipeline.hpp"
#include "config/topology.hpp"
#include "messages/json_codec.hpp"
#include "messages/messages.hpp"
#include "persistence/units_of_work.hpp"

namespace postbox {

handler_result handle_execute_workflow(handler_context& ctx, const delivery& d) {
  auto msg = decode_execute_workflow(d.payload);
  if (!msg) return poison(ctx, d, "undecodable execute_workflow: " + describe(msg.error()));
  if (auto mismatch = execution_id_mismatch(d, msg->execution_id)) return poison(ctx, d, *mismatch);
  auto wf = ctx.topo.workflows.find(msg->workflow);
  if (wf == ctx.topo.workflows.end())
    // Maybe only this node's topology lacks it (a rolling deploy): back off and let
    // another node try; max_attempts still ends it if no node knows it.
    return store_failure(ctx, d,
                         make_error(errc::config_error, "unknown workflow '" + msg->workflow +
                                                            "' in this node's topology"));
  int32_t batch_size = msg->batch_size > 0 ? msg->batch_size : wf->second.batch_size;
  if (batch_size <= 0) batch_size = 10;

  std::vector<std::string> files = msg->files;
  for (const auto& id : msg->blob_ids) files.push_back("blob:" + id);

  start_request req;
  req.delivery = d.to_lease();
  req.owner = ctx.owner;
  req.execution_id = msg->execution_id;
  req.org = msg->org;
  req.workflow = msg->workflow;
  req.batch_size = batch_size;
  req.files_total = static_cast<int32_t>(files.size());
  req.headers = d.headers.empty() ? "{}" : d.headers;
  for (size_t first = 0, index = 0; first < files.size(); first += batch_size, ++index) {
    process_file_batch batch;
    batch.execution_id = msg->execution_id;
    batch.workflow = msg->workflow;
    batch.org = msg->org;
    batch.batch_index = static_cast<int32_t>(index);
    auto last = std::min(files.size(), first + static_cast<size_t>(batch_size));
    batch.files.assign(files.begin() + first, files.begin() + last);
    outgoing_message m;
    m.queue = file_batch_queue;
    m.type = process_file_batch_type;
    m.execution_id = msg->execution_id;
    m.org = msg->org;
    m.payload = to_json(batch);
    m.headers = d.headers.empty() ? "{}" : d.headers;  // continuations travel to the callback
    req.batches.push_back(std::move(m));
  }
  // Fault tests freeze the node here, holding the claim; once per process.
  static std::atomic<bool> stop_once{true};
  if (const char* hook = std::getenv("POSTBOX_TEST_STOP_AFTER_CLAIM"); hook && *hook == '1')
    req.after_claim = [] {
      if (stop_once.exchange(false)) std::raise(SIGSTOP);
    };
  auto r = start_execution(ctx.session, req);
  if (!r) {
    if (is(r.error(), errc::invalid_argument)) return poison(ctx, d, describe(r.error()));
    return store_failure(ctx, d, r.error());
  }
  return {handled::acked, std::string("orchestration ") + to_string(*r)};
}

}  // namespace postbox

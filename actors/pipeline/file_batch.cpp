// process_file_batch: run the workflow's processor on each file not yet done,
// record each result once, then ack + barrier arrival (+ callback if last) in
// one transaction.
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <map>
#include <memory>
#include <vector>

#include "actors/pipeline/pipeline.hpp"
#include "actors/pipeline/processors/processor.hpp"
#include "config/topology.hpp"
#include "messages/json_codec.hpp"
#include "messages/messages.hpp"
#include "messages/utf8.hpp"
#include "persistence/blob_store.hpp"
#include "persistence/execution_store.hpp"
#include "persistence/file_results_store.hpp"
#include "persistence/units_of_work.hpp"

namespace postbox {

namespace {

/// A blob written to a temporary file for the processor; removed when done.
struct materialized {
  std::string path;
  ~materialized() {
    if (!path.empty()) ::unlink(path.c_str());
  }
};

/// Writes `content` to a new temporary file under `dir` and names it in `out`.
/// Every step is checked (create, each write, close): a short or failed write is
/// an error, never a truncated file handed to the processor.
caf::error write_temp_file(const std::string& dir, const std::string& content, materialized& out) {
  std::string path = dir + "/postbox-blob-XXXXXX";
  std::vector<char> name(path.begin(), path.end());
  name.push_back('\0');
  int fd = ::mkstemp(name.data());
  if (fd < 0)
    return make_error(errc::io_error,
                      "cannot create a temporary file in " + dir + ": " + std::strerror(errno));
  out.path = name.data();
  const char* p = content.data();
  size_t left = content.size();
  while (left > 0) {
    ssize_t n = ::write(fd, p, left);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      int e = n < 0 ? errno : EIO;
      ::close(fd);
      return make_error(errc::io_error,
                        "cannot write the temporary file " + out.path + ": " + std::strerror(e));
    }
    p += n;
    left -= static_cast<size_t>(n);
  }
  if (::close(fd) != 0)
    return make_error(errc::io_error,
                      "cannot close the temporary file " + out.path + ": " + std::strerror(errno));
  return {};
}

std::string base_name(const std::string& path) {
  auto slash = path.find_last_of('/');
  return slash == std::string::npos ? path : path.substr(slash + 1);
}

/// Processors built from workflow options, reused across batches on one worker.
using processor_cache = std::map<std::string, std::unique_ptr<processor>>;

caf::expected<processor*> processor_for(handler_context& ctx, const processor_registry& processors,
                                        const std::string& workflow) {
  auto& slot = ctx.locals["pipeline.processors"];
  if (!slot) slot = std::make_shared<processor_cache>();
  auto& cache = *std::static_pointer_cast<processor_cache>(slot);
  auto cached = cache.find(workflow);
  if (cached != cache.end()) return cached->second.get();
  auto wf = ctx.topo.workflows.find(workflow);
  if (wf == ctx.topo.workflows.end())
    return make_error(errc::invalid_argument, "unknown workflow '" + workflow + "'");
  auto p = processors.create(wf->second.processor, wf->second.options_json);
  if (!p) return p.error();
  auto* raw = p->get();
  cache.emplace(workflow, std::move(*p));
  return raw;
}

}  // namespace

handler_result handle_process_file_batch(handler_context& ctx, const delivery& d,
                                         const processor_registry& processors) {
  auto msg = decode_process_file_batch(d.payload);
  if (!msg) return poison(ctx, d, "undecodable process_file_batch: " + describe(msg.error()));
  if (auto mismatch = execution_id_mismatch(d, msg->execution_id)) return poison(ctx, d, *mismatch);
  execution_store executions{ctx.session};
  auto exec = executions.get(msg->execution_id);
  if (!exec) {
    if (is(exec.error(), errc::not_found))
      return poison(ctx, d, "batch for unknown execution '" + msg->execution_id + "'");
    return store_failure(ctx, d, exec.error());
  }
  mailbox_store mailbox{ctx.session};
  if (is_terminal(exec->status)) {
    // Poisoned or stopped meanwhile: this batch has nothing left to contribute.
    auto err = mailbox.ack(d.to_lease());
    if (err) return store_failure(ctx, d, err);
    return {handled::acked, "execution already terminal; batch skipped"};
  }
  auto proc =
      processor_for(ctx, processors, msg->workflow.empty() ? exec->workflow : msg->workflow);
  // As for an unknown workflow: another node's topology may have it right.
  if (!proc) return store_failure(ctx, d, proc.error());

  file_results_store results{ctx.session};
  auto done = results.existing(msg->execution_id, msg->files);
  if (!done) return store_failure(ctx, d, done.error());
  blob_store blobs{ctx.session};
  for (const auto& key : msg->files) {
    if (done->count(key)) continue;  // recorded by an earlier delivery of this batch
    file_result fr;
    fr.file_key = key;
    file_input in{key, key, base_name(key)};
    materialized tmp;
    if (key.rfind("blob:", 0) == 0) {
      auto b = blobs.get(key.substr(5));
      if (!b && !is(b.error(), errc::not_found)) return store_failure(ctx, d, b.error());
      if (!b) {
        fr.error = "blob " + key.substr(5) + " not found";
      } else {
        // A failed write (a full disk) is retried later, never recorded as a result.
        if (auto err = write_temp_file(ctx.temp_dir, b->content, tmp))
          return store_failure(ctx, d, err);
        in.path = tmp.path;
        in.name = b->name;
      }
    }
    if (fr.error.empty()) {
      auto out = (*proc)->process(in);
      fr.ok = out.ok;
      fr.result_json = out.ok ? out.result_json : "{}";
      fr.error = utf8_sanitize(out.error);
      if (fr.ok && fr.result_json.find("\\u0000") != std::string::npos) {
        // jsonb cannot hold U+0000: one file fails, not the whole batch.
        fr.ok = false;
        fr.result_json = "{}";
        fr.error = "result contains \\u0000, which PostgreSQL cannot store";
      }
    }
    auto rec = results.record(msg->execution_id, msg->batch_index, fr);
    if (!rec && fr.ok && is(rec.error(), errc::logic_error) &&
        describe(rec.error()).find(": 22") != std::string::npos) {
      // The server refused the result as data (22xxx): record the file as failed.
      fr.ok = false;
      fr.error = utf8_sanitize("result refused by PostgreSQL: " + describe(rec.error()));
      fr.result_json = "{}";
      rec = results.record(msg->execution_id, msg->batch_index, fr);
    }
    if (!rec) return store_failure(ctx, d, rec.error());
  }

  outgoing_message callback;
  callback.queue = callback_queue;
  callback.type = execution_callback_type;
  callback.execution_id = msg->execution_id;
  callback.org = msg->org.empty() ? exec->org : msg->org;
  callback.payload = to_json(execution_callback{msg->execution_id});
  callback.headers = d.headers.empty() ? "{}" : d.headers;
  auto r = complete_batch(ctx.session, d.to_lease(), msg->execution_id, msg->batch_index, callback);
  if (!r) {
    if (is(r.error(), errc::invalid_argument) || is(r.error(), errc::not_found))
      return poison(ctx, d, describe(r.error()));
    return store_failure(ctx, d, r.error());
  }
  return {handled::acked, r->barrier.fired ? "last batch: callback enqueued" : "batch done"};
}

}  // namespace postbox

// process_file_batch: a child of its execution's group. Runs the workflow's
// processor on each file not yet done; every result commits with the ack and the
// batch's arrival (the runtime fires the execution callback after the last one).
// Written on the public runtime API only.
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <memory>
#include <set>
#include <vector>

#include "actors/pipeline/pipeline.hpp"
#include "actors/pipeline/pipeline_sql.hpp"
#include "actors/pipeline/processors/processor.hpp"
#include "config/topology.hpp"
#include "messages/execution_status.hpp"
#include "messages/json_codec.hpp"
#include "messages/messages.hpp"
#include "messages/storable_json.hpp"

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

/// What became of one file.
struct file_result {
  std::string file_key;
  bool ok = false;
  std::string result_json = "{}";  // when ok
  std::string error;               // when failed
};

/// Processors built from workflow options, reused across batches on one worker.
using processor_cache = std::map<std::string, std::unique_ptr<processor>>;

caf::expected<processor*> processor_for(context& ctx, const processor_registry& processors,
                                        const std::string& workflow) {
  auto& cache = ctx.local<processor_cache>("pipeline.processors");
  auto cached = cache.find(workflow);
  if (cached != cache.end()) return cached->second.get();
  auto wf = ctx.topology().workflows.find(workflow);
  if (wf == ctx.topology().workflows.end())
    return make_error(errc::invalid_argument, "unknown workflow '" + workflow + "'");
  auto p = processors.create(wf->second.processor, wf->second.options_json);
  if (!p) return p.error();
  auto* raw = p->get();
  cache.emplace(workflow, std::move(*p));
  return raw;
}

std::string from_hex(const std::string& hex) {
  auto nibble = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return 0;
  };
  std::string out;
  out.reserve(hex.size() / 2);
  for (size_t i = 0; i + 1 < hex.size(); i += 2)
    out.push_back(static_cast<char>(nibble(hex[i]) * 16 + nibble(hex[i + 1])));
  return out;
}

/// Runs the processor on one file (a path, or an uploaded blob written to a
/// temporary file); an error return is the node's trouble (a full disk), retried.
caf::expected<file_result> run_file(context& ctx, processor& proc, const std::string& key,
                                    const std::string& temp_dir) {
  file_result fr;
  fr.file_key = key;
  file_input in{key, key, base_name(key)};
  materialized tmp;
  if (key.rfind("blob:", 0) == 0) {
    auto b = ctx.query(pipeline_sql("blobs_get"), {key.substr(5)});
    if (!b) return b.error();
    if (b->empty()) {
      fr.error = "blob " + key.substr(5) + " not found";
      return fr;
    }
    // A failed write (a full disk) is retried later, never recorded as a result.
    if (auto err = write_temp_file(temp_dir, from_hex((*b)[0][1].value_or("")), tmp)) return err;
    in.path = tmp.path;
    in.name = (*b)[0][0].value_or(key);
  }
  auto out = proc.process(in);
  fr.ok = out.ok;
  fr.error = storable_text(out.error);
  if (fr.ok && out.result_json.find("\\u0000") != std::string::npos) {
    // jsonb cannot hold U+0000: one file fails, not the whole batch.
    fr.ok = false;
    fr.error = "result contains \\u0000, which PostgreSQL cannot store";
  }
  fr.result_json = fr.ok ? storable_json(out.result_json) : "{}";
  return fr;
}

}  // namespace

outcome process_batch(context& ctx, const json_text& body, const processor_registry& processors) {
  auto msg = decode_process_file_batch(body.text);
  if (!msg) return outcome::reject("undecodable process_file_batch: " + describe(msg.error()));
  if (auto mismatch = execution_id_mismatch(ctx.execution_id(), msg->execution_id))
    return outcome::reject(*mismatch);
  auto exec = ctx.query(pipeline_sql("executions_get"), {msg->execution_id});
  if (!exec) return outcome::from(exec.error());
  if (exec->empty())
    return outcome::reject("batch for unknown execution '" + msg->execution_id + "'");
  auto status = parse_execution_status((*exec)[0][3].value_or(""));
  // Poisoned or stopped meanwhile: this batch has nothing left to contribute.
  if (status && is_terminal(*status))
    return outcome().note("execution already terminal; batch skipped");
  auto workflow = msg->workflow.empty() ? (*exec)[0][2].value_or("") : msg->workflow;
  auto proc = processor_for(ctx, processors, workflow);
  // As for an unknown workflow: another node's topology may have it right.
  if (!proc) return outcome::from(proc.error());

  std::vector<std::string> keys = msg->files;
  auto existing =
      ctx.query(pipeline_sql("file_results_existing"), {msg->execution_id, sql_text_array(keys)});
  if (!existing) return outcome::from(existing.error());
  std::set<std::string> done;
  for (const auto& row : *existing) done.insert(row[0].value_or(""));
  const auto& tmp = ctx.temp_dir();
  for (const auto& key : msg->files) {
    if (done.count(key)) continue;  // recorded by an earlier delivery of this batch
    auto fr = run_file(ctx, **proc, key, tmp);
    if (!fr) return outcome::from(fr.error());
    // Each result commits at once (idempotent: one row per file): a redelivery after
    // a crash or a lost lease keeps it and skips the file.
    auto recorded = ctx.write_now(
        pipeline_sql("file_results_record"),
        {msg->execution_id, key, std::to_string(msg->batch_index), fr->ok ? "done" : "failed",
         fr->ok ? sql_value{fr->result_json} : sql_value{},
         fr->ok ? sql_value{} : sql_value{fr->error}});
    if (!recorded) return outcome::from(recorded.error());
    done.insert(key);
  }
  return {};
}

}  // namespace postbox

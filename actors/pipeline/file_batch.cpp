// process_file_batch: a child of its execution's group. Runs the workflow's
// processor on each file not yet done; every result commits with the ack and the
// batch's arrival (the runtime fires the execution callback after the last one).
// Written on the public runtime API only.
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <memory>
#include <optional>
#include <vector>

#include "actors/pipeline/pipeline.hpp"
#include "actors/pipeline/pipeline_sql.hpp"
#include "actors/pipeline/processors/processor.hpp"
#include "config/topology.hpp"
#include "messages/execution_status.hpp"
#include "messages/json_codec.hpp"
#include "messages/messages.hpp"
#include "messages/storable_json.hpp"
#include "persistence/user_sql.hpp"

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

/// Hex text (encode(content, 'hex')) as bytes; nullopt if it is not hex.
std::optional<std::string> from_hex(const std::string& hex) {
  auto nibble = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  };
  if (hex.size() % 2 != 0) return std::nullopt;
  std::string out;
  out.reserve(hex.size() / 2);
  for (size_t i = 0; i < hex.size(); i += 2) {
    int hi = nibble(hex[i]), lo = nibble(hex[i + 1]);
    if (hi < 0 || lo < 0) return std::nullopt;
    out.push_back(static_cast<char>(hi * 16 + lo));
  }
  return out;
}

/// Uploaded content the batch query returns with the rows, at most: a larger blob is
/// read on its own just before its file runs.
constexpr int64_t inline_blob_bytes = 1 << 20;

/// One file of the batch as file_batch_inputs.sql returned it.
struct batch_file {
  std::string key;
  bool done = false;         // an earlier delivery recorded its result
  bool blob = false;         // an uploaded file (key blob:<id>)
  bool blob_found = false;   // ... still stored
  bool blob_inline = false;  // ... and its content (hex) came with the batch query
  std::string blob_name;
  std::string blob_content;
};

/// The content of `f` (an uploaded file), read now if the batch query left it out.
caf::error load_blob(context& ctx, batch_file& f) {
  std::string hex;
  if (f.blob_inline) {
    hex = std::move(f.blob_content);
  } else {
    auto r = ctx.query(pipeline_sql("blobs_get"), {f.key.substr(5)});
    if (!r) return r.error();
    if (r->empty() || !(*r)[0][0]) {
      f.blob_found = false;  // deleted since the batch query
      return {};
    }
    hex = std::move(*(*r)[0][0]);
  }
  auto bytes = from_hex(hex);
  if (!bytes) return make_error(errc::logic_error, "blob " + f.key.substr(5) + ": not hex");
  f.blob_content = std::move(*bytes);
  return {};
}

/// Runs the processor on one file (a path, or an uploaded blob written to a
/// temporary file); an error return is the node's trouble (a full disk), retried.
caf::expected<file_result> run_file(context& ctx, processor& proc, batch_file& f,
                                    const std::string& temp_dir) {
  file_result fr;
  fr.file_key = f.key;
  file_input in{f.key, f.key, base_name(f.key)};
  materialized tmp;
  if (f.blob && f.blob_found)
    if (auto err = load_blob(ctx, f)) return err;
  if (f.blob) {
    if (!f.blob_found) {
      fr.error = "blob " + f.key.substr(5) + " not found";
      return fr;
    }
    // A failed write (a full disk) is retried later, never recorded as a result.
    if (auto err = write_temp_file(temp_dir, f.blob_content, tmp)) return err;
    in.path = tmp.path;
    in.name = f.blob_name.empty() ? f.key : f.blob_name;
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

/// The parameters of file_results_record_batch.sql for `results`.
std::vector<sql_value> record_params(const process_file_batch& msg,
                                     const std::vector<file_result>& results) {
  std::vector<sql_value> keys, statuses, values, errors;
  for (const auto& fr : results) {
    keys.emplace_back(fr.file_key);
    statuses.emplace_back(fr.ok ? "done" : "failed");
    values.push_back(fr.ok ? sql_value{fr.result_json} : sql_value{});
    errors.push_back(fr.ok ? sql_value{} : sql_value{fr.error});
  }
  return {msg.execution_id,         std::to_string(msg.batch_index), sql_text_array(keys),
          sql_text_array(statuses), sql_text_array(values),          sql_text_array(errors)};
}

/// A batch that has run this long since its last checkpoint records the results it
/// has so far, without waiting for the disk (context::checkpoint): a crash or a lost
/// lease then costs a slow processor at most this much work, and a fast batch pays
/// nothing. Everything not checkpointed commits with the ack.
constexpr auto checkpoint_after = std::chrono::seconds(1);

/// Only the batches the execution's own orchestration enqueued run (its group's
/// children, by message id at their index): a batch sent by hand (CLI, SQL) would
/// otherwise record results for files never submitted and make a node read any path
/// or blob it names. Such a batch is dropped as stray, before any file is read; it
/// changes nothing else (a forged message must not fail someone's execution).
std::optional<outcome> not_its_batch(context& ctx, const process_file_batch& msg) {
  auto child = ctx.query(pipeline_sql("barrier_child_at"),
                         {msg.execution_id, std::to_string(msg.batch_index)});
  if (!child) return outcome::from(child.error());
  const std::string me = std::to_string(ctx.message_id());
  if (!child->empty()) {
    const auto& row = (*child)[0];
    if (row[1].value_or("f") == "t" || row[0] == me) return std::nullopt;
    return outcome::drop(
        "process_file_batch " + std::to_string(msg.batch_index) + " of execution '" +
        msg.execution_id + "' is not one of the batches its orchestration enqueued (" +
        (row[0] ? "that batch is message " + *row[0] : std::string("it has no such batch")) +
        "): a stray batch runs nothing");
  }
  // No group: the execution never fanned out (or its group was pruned after it ended).
  auto exec = ctx.query(pipeline_sql("executions_get"), {msg.execution_id});
  if (!exec) return outcome::from(exec.error());
  if (exec->empty()) return std::nullopt;  // unknown execution: rejected below
  auto status = parse_execution_status((*exec)[0][3].value_or(""));
  if (status && is_terminal(*status))
    return outcome().note("execution already terminal; batch skipped");
  return outcome::drop("process_file_batch for execution '" + msg.execution_id +
                       "' whose batches were never enqueued: a stray batch runs nothing");
}

}  // namespace

outcome process_batch(context& ctx, const json_text& body, const processor_registry& processors) {
  auto msg = decode_process_file_batch(body.text);
  if (!msg) return outcome::reject("undecodable process_file_batch: " + describe(msg.error()));
  if (auto mismatch = execution_id_mismatch(ctx.execution_id(), msg->execution_id))
    return outcome::reject(*mismatch);
  if (auto stray = not_its_batch(ctx, *msg)) return std::move(*stray);
  // The execution's status, what is already done and the blobs' contents: one query.
  auto rows =
      ctx.query(pipeline_sql("file_batch_inputs"),
                {msg->execution_id, sql_text_array(msg->files), std::to_string(inline_blob_bytes)});
  if (!rows) return outcome::from(rows.error());
  std::string status_text, workflow = msg->workflow;
  if (rows->empty()) {  // an empty batch, or an unknown execution
    auto exec = ctx.query(pipeline_sql("executions_get"), {msg->execution_id});
    if (!exec) return outcome::from(exec.error());
    if (exec->empty())
      return outcome::reject("batch for unknown execution '" + msg->execution_id + "'");
    status_text = (*exec)[0][3].value_or("");
    if (workflow.empty()) workflow = (*exec)[0][2].value_or("");
  } else {
    status_text = (*rows)[0][0].value_or("");
    if (workflow.empty()) workflow = (*rows)[0][1].value_or("");
  }
  auto status = parse_execution_status(status_text);
  // Poisoned or stopped meanwhile: this batch has nothing left to contribute.
  if (status && is_terminal(*status))
    return outcome().note("execution already terminal; batch skipped");
  auto proc = processor_for(ctx, processors, workflow);
  // As for an unknown workflow: another node's topology may have it right.
  if (!proc) return outcome::from(proc.error());

  std::vector<batch_file> files;
  files.reserve(rows->size());
  for (auto& row : *rows) {
    batch_file f;
    f.key = row[2].value_or("");
    f.done = row[3].value_or("f") == "t";
    f.blob = f.key.rfind("blob:", 0) == 0;
    f.blob_found = row[6].value_or("f") == "t";
    f.blob_name = row[4].value_or("");
    f.blob_inline = row[5].has_value();
    if (row[5]) f.blob_content = std::move(*row[5]);
    files.push_back(std::move(f));
  }
  const auto& tmp = ctx.temp_dir();
  std::vector<file_result> pending;
  auto since = std::chrono::steady_clock::now();
  for (size_t i = 0; i < files.size(); ++i) {
    if (files[i].done) continue;  // recorded by an earlier delivery of this batch
    auto fr = run_file(ctx, **proc, files[i], tmp);
    if (!fr) return outcome::from(fr.error());
    pending.push_back(std::move(*fr));
    std::string().swap(files[i].blob_content);  // one blob in memory at a time
    bool more = i + 1 < files.size();
    if (more && std::chrono::steady_clock::now() - since >= checkpoint_after) {
      // checkpoint takes the execution's fence first and writes nothing once it is
      // cancelled (errc::execution_stopped: the delivery is then acked, uncharged).
      auto kept = ctx.checkpoint(
          {{pipeline_sql("file_results_record_batch"), record_params(*msg, pending)}});
      if (!kept) return outcome::from(kept.error());
      pending.clear();
      since = std::chrono::steady_clock::now();
    }
  }
  // The rest commits with the ack and the batch's arrival: one commit per batch. The
  // ack takes the execution's fence (shared) before it (handled_commit.cpp).
  if (!pending.empty())
    ctx.execute(pipeline_sql("file_results_record_batch"), record_params(*msg, pending));
  return {};
}

}  // namespace postbox

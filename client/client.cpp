// The client API over the stores: the CLI and user programs share this code.
#include "client/client.hpp"

#include <openssl/evp.h>

#include <algorithm>
#include <boost/json.hpp>
#include <filesystem>
#include <fstream>
#include <memory>
#include <random>
#include <sstream>
#include <thread>

#include "messages/json_codec.hpp"
#include "messages/messages.hpp"
#include "persistence/blob_store.hpp"
#include "persistence/file_results_store.hpp"
#include "persistence/mailbox_store.hpp"
#include "persistence/node_registry_store.hpp"
#include "persistence/notification_listener.hpp"
#include "persistence/reply_store.hpp"
#include "persistence/units_of_work.hpp"

namespace postbox {

namespace fs = std::filesystem;

client::client(std::string dsn, std::string application_name)
    : session_(std::make_unique<pg_session>(
          session_options{std::move(dsn), std::move(application_name)})),
      inspect_(std::make_unique<inspect_store>(*session_)) {}

client::client(session_options options)
    : session_(std::make_unique<pg_session>(std::move(options))),
      inspect_(std::make_unique<inspect_store>(*session_)) {}

client::~client() = default;

inspect_store& client::inspect() {
  return *inspect_;
}

pg_session& client::session() {
  return *session_;
}

namespace {

/// Random (version 4) UUIDs from one seeded generator.
class uuid_generator {
 public:
  uuid_generator()
      : gen_{(static_cast<uint64_t>(std::random_device{}()) << 32) ^ std::random_device{}() ^
             static_cast<uint64_t>(std::chrono::steady_clock::now().time_since_epoch().count())} {}
  std::string operator()();

 private:
  std::mt19937_64 gen_;
};

/// Reads the file at `path` into `content` and its sha256 (hex) into `sha256`, in
/// one pass: the hash is computed while reading.
caf::error read_hashed(const std::string& path, std::string& content, std::string& sha256) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return make_error(errc::io_error, "cannot read " + path);
  std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> md{EVP_MD_CTX_new(), EVP_MD_CTX_free};
  if (!md || EVP_DigestInit_ex(md.get(), EVP_sha256(), nullptr) != 1)
    return make_error(errc::io_error, "cannot initialize sha256");
  char buf[65536];
  while (in) {
    in.read(buf, sizeof buf);
    auto n = in.gcount();
    if (n <= 0) break;
    content.append(buf, static_cast<size_t>(n));
    EVP_DigestUpdate(md.get(), buf, static_cast<size_t>(n));
  }
  if (in.bad()) return make_error(errc::io_error, "cannot read " + path);
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  if (EVP_DigestFinal_ex(md.get(), digest, &len) != 1)
    return make_error(errc::io_error, "sha256 of " + path + " failed");
  static const char* hex = "0123456789abcdef";
  sha256.clear();
  for (unsigned int i = 0; i < len; ++i) {
    sha256 += hex[digest[i] >> 4];
    sha256 += hex[digest[i] & 15];
  }
  return {};
}

std::string uuid_generator::operator()() {
  auto& gen = gen_;
  uint64_t a = gen(), b = gen();
  a = (a & 0xffffffffffff0fffULL) | 0x0000000000004000ULL;  // version 4
  b = (b & 0x3fffffffffffffffULL) | 0x8000000000000000ULL;  // variant 1
  char out[37];
  std::snprintf(out, sizeof out, "%08x-%04x-%04x-%04x-%012llx", static_cast<unsigned>(a >> 32),
                static_cast<unsigned>((a >> 16) & 0xffff), static_cast<unsigned>(a & 0xffff),
                static_cast<unsigned>(b >> 48),
                static_cast<unsigned long long>(b & 0xffffffffffffULL));
  return out;
}

}  // namespace

std::string new_execution_id() {
  return uuid_generator{}();
}

caf::expected<std::vector<std::string>> collect_files(const std::vector<std::string>& paths) {
  std::vector<std::string> out;
  for (const auto& p : paths) {
    std::error_code ec;
    auto abs = fs::absolute(p, ec);
    if (ec || !fs::exists(abs, ec))
      return make_error(errc::invalid_argument, "no such file or folder: " + p);
    if (fs::is_directory(abs, ec)) {
      std::vector<std::string> found;
      for (auto it = fs::recursive_directory_iterator(abs, ec); !ec && it != fs::end(it);
           it.increment(ec))
        if (it->is_regular_file()) found.push_back(it->path().lexically_normal().string());
      if (ec) return make_error(errc::io_error, "cannot walk " + p + ": " + ec.message());
      std::sort(found.begin(), found.end());
      out.insert(out.end(), found.begin(), found.end());
    } else {
      out.push_back(abs.lexically_normal().string());
    }
  }
  if (out.empty()) return make_error(errc::invalid_argument, "no files to submit");
  return out;
}

caf::expected<submitted> client::submit(const submit_request& req) {
  if (req.workflow.empty()) return make_error(errc::invalid_argument, "a workflow is required");
  auto files = collect_files(req.paths);
  if (!files) return files.error();
  execute_workflow msg;
  msg.org = req.org;
  msg.workflow = req.workflow;
  msg.execution_id = new_execution_id();
  msg.batch_size = req.batch_size;
  blob_source blobs;
  size_t next = 0;  // the next file to upload (read by `blobs`, so it outlives this block)
  if (req.upload) {
    // Ids first (they go into the message); the contents stream into the submit's
    // own transaction, one file in memory at a time.
    uuid_generator ids;
    for (size_t i = 0; i < files->size(); ++i) msg.blob_ids.push_back(ids());
    blobs = [&]() -> caf::expected<std::optional<blob_upload>> {
      if (next == files->size()) return std::optional<blob_upload>{};
      const auto& path = (*files)[next];
      blob_upload b;
      b.id = msg.blob_ids[next++];
      b.name = fs::path(path).filename().string();
      if (auto err = read_hashed(path, b.content, b.sha256)) return err;
      return std::optional<blob_upload>{std::move(b)};
    };
  } else {
    msg.files = *files;
  }
  outgoing_message m;
  m.queue = "orchestrator";
  m.type = execute_workflow_type;
  m.execution_id = msg.execution_id;
  m.org = req.org;
  m.payload = to_json(msg);
  m.headers = req.headers.empty() ? "{}" : req.headers;
  new_execution x{msg.execution_id, req.org, req.workflow, req.batch_size > 0 ? req.batch_size : 10,
                  static_cast<int32_t>(files->size())};
  if (auto err = submit_execution(*session_, x, m, req.upload ? &blobs : nullptr)) return err;
  return submitted{msg.execution_id, static_cast<int32_t>(files->size())};
}

caf::expected<execution_record> client::status(const std::string& execution_id) {
  execution_store executions{*session_};
  return executions.progress(execution_id);
}

caf::expected<cancel_outcome> client::cancel(const std::string& execution_id) {
  execution_store executions{*session_};
  return executions.cancel(execution_id);
}

caf::expected<execution_record> client::wait(
    const std::string& execution_id, const std::function<void(const execution_record&)>& progress,
    std::chrono::milliseconds poll, std::chrono::milliseconds timeout) {
  auto until = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    auto e = status(execution_id);
    if (!e) return e.error();
    if (progress) progress(*e);
    if (is_terminal(e->status)) return e;
    if (timeout.count() > 0 && std::chrono::steady_clock::now() >= until)
      return make_error(errc::timeout,
                        "execution " + execution_id + " is still " + to_string(e->status));
    std::this_thread::sleep_for(poll);
  }
}

caf::error client::check_handled(const std::string& queue, const std::string& type,
                                 const std::vector<std::string>& among) {
  node_registry_store nodes{*session_};
  auto on_queue = nodes.types_on_queue(queue, among);
  if (!on_queue) return on_queue.error();
  const auto& types = on_queue->types;
  if (on_queue->registered == 0 || on_queue->unregistered > 0 || types.empty() ||
      std::find(types.begin(), types.end(), type) != types.end())
    return {};
  std::string listed;
  for (const auto& t : types) listed += (listed.empty() ? "" : ", ") + t;
  return make_error(errc::invalid_argument,
                    "no node " + std::string(among.empty() ? "" : "of the topology ") +
                        "handles type '" + type + "' on queue '" + queue + "' (handled there: " +
                        listed + "); --force sends it anyway (e.g. for a node not yet deployed)");
}

caf::expected<int64_t> client::send(const actor_ref& to, const std::string& type,
                                    const std::string& json_payload, const std::string& headers,
                                    const std::string& queue, const send_options& opts) {
  auto sent = send_unique(to, type, json_payload, opts, headers, queue);
  if (!sent) return sent.error();
  return sent->id;
}

caf::expected<int64_t> client::send(const std::string& queue, const std::string& type,
                                    const std::string& json_payload, const std::string& headers,
                                    const send_options& opts) {
  auto sent = send_unique(queue, type, json_payload, opts, headers);
  if (!sent) return sent.error();
  return sent->id;
}

caf::expected<send_result> client::send_unique(const std::string& queue, const std::string& type,
                                               const std::string& json_payload,
                                               const send_options& opts,
                                               const std::string& headers) {
  if (queue.empty()) return make_error(errc::invalid_argument, "a queue is required");
  return send_message(queue, type, json_payload, headers, nullptr, opts);
}

caf::expected<send_result> client::send_unique(const actor_ref& to, const std::string& type,
                                               const std::string& json_payload,
                                               const send_options& opts, const std::string& headers,
                                               const std::string& queue) {
  if (to.type.empty() || to.key.empty() || to.type.size() > 256 || to.key.size() > 256)
    return make_error(errc::invalid_argument,
                      "an actor is a type and a key of 1 to 256 bytes each (TYPE/KEY)");
  if (type == execute_workflow_type || type == process_file_batch_type ||
      type == execution_callback_type)
    return make_error(errc::invalid_argument, "a " + type + " is not sent to an actor");
  return send_message(queue, type, json_payload, headers, &to, opts);
}

caf::expected<send_result> client::send_message(const std::string& queue, const std::string& type,
                                                const std::string& json_payload,
                                                const std::string& headers, const actor_ref* to,
                                                const send_options& opts) {
  const auto& limit_key = opts.limit_key;
  const auto* dedup = &opts.dedup;
  if (limit_key.size() > 256)
    return make_error(errc::invalid_argument, "a limit key is 1 to 256 bytes");
  outgoing_message m;
  m.priority = opts.tier;
  m.limit_key = limit_key;
  if (dedup && !dedup->key.empty()) {
    if (dedup->key.size() > max_dedup_key_bytes)
      return make_error(errc::invalid_argument, "a dedup key is 1 to 512 bytes");
    if (is_tick_dedup_key(dedup->key))
      return make_error(errc::invalid_argument, tick_dedup_key_refusal(dedup->key));
    if (dedup->mode == dedup_mode::ttl && dedup->ttl.count() <= 0)
      return make_error(errc::invalid_argument, "dedup mode ttl needs a ttl above zero");
    if (dedup->mode != dedup_mode::ttl && dedup->ttl.count() != 0)
      return make_error(errc::invalid_argument, "a dedup ttl goes with dedup mode ttl");
    m.dedup_key = dedup->key;
    m.dedup_mode = dedup->mode;
    m.dedup_ttl = dedup->ttl;
  } else if (dedup && (dedup->mode != dedup_mode::until_done || dedup->ttl.count() != 0)) {
    return make_error(errc::invalid_argument, "a dedup mode or ttl goes with a dedup key");
  }
  if (to) {
    m.actor_type = to->type;
    m.actor_key = to->key;
  }
  m.queue = queue;
  m.type = type;
  m.headers = headers.empty() ? "{}" : headers;
  if (auto h = decode_message_headers(m.headers); !h) return h.error();
  if (type == execute_workflow_type) {
    auto x = decode_execute_workflow(json_payload);
    if (!x) return x.error();
    m.execution_id = x->execution_id;
    m.org = x->org;
    m.payload = to_json(*x);
  } else if (type == process_file_batch_type) {
    auto x = decode_process_file_batch(json_payload);
    if (!x) return x.error();
    m.execution_id = x->execution_id;
    m.org = x->org;
    m.payload = to_json(*x);
  } else if (type == execution_callback_type) {
    auto x = decode_execution_callback(json_payload);
    if (!x) return x.error();
    m.execution_id = x->execution_id;
    m.payload = to_json(*x);
  } else {
    // A user's type: any JSON object; the pipeline's identity fields, when present,
    // go to the envelope (a poisoned message then fails its execution).
    if (type.empty()) return make_error(errc::invalid_argument, "a type is required");
    boost::json::error_code ec;
    auto v = boost::json::parse(json_payload, ec);
    if (ec || !v.is_object())
      return make_error(errc::decode_failed, "the payload of a '" + type +
                                                 "' must be a JSON object" +
                                                 (ec ? " (" + ec.message() + ")" : std::string()));
    const auto& o = v.as_object();
    if (auto* e = o.if_contains("execution_id"); e && e->is_string())
      m.execution_id = std::string(e->as_string());
    if (auto* g = o.if_contains("org"); g && g->is_string()) m.org = std::string(g->as_string());
    m.payload = boost::json::serialize(v);
  }
  mailbox_store mailbox{*session_};
  return mailbox.send_unique(m);
}

namespace {

/// Reply keys are 1 to 256 bytes (postbox.reply_key_ok, migration 011).
constexpr size_t max_request_id = 256;

/// Waits on the replies table for `request_id` until `until`: re-read after every
/// NOTIFY naming it and at least every `wait.poll`. A listener that fails is
/// dropped; polling carries on alone.
caf::expected<ask_reply> await_reply(reply_store& replies,
                                     std::unique_ptr<notification_listener>& listener,
                                     const std::string& request_id, int64_t message_id,
                                     std::chrono::steady_clock::time_point until,
                                     const reply_wait& wait) {
  using clock = std::chrono::steady_clock;
  for (;;) {
    auto got = replies.lookup(request_id, message_id);
    if (!got) return got.error();
    switch (got->status) {
      case reply_lookup::state::replied:
        return ask_reply{request_id, got->message_id, reply_status::ok, got->body, ""};
      case reply_lookup::state::failed:
        return ask_reply{request_id, got->message_id, reply_status::error, "null", got->error};
      case reply_lookup::state::unanswered:
        if (message_id)
          return make_error(errc::not_found, "request " + request_id + " (message " +
                                                 std::to_string(message_id) +
                                                 ") was handled without a reply");
        return make_error(errc::not_found,
                          "no request " + request_id +
                              ": no reply is stored and no such request waits (never sent, "
                              "handled without a reply, or pruned after reply_retention)");
      case reply_lookup::state::waiting:
        message_id = got->message_id;
        break;
    }
    auto now = clock::now();
    if (now >= until) return ask_reply{request_id, message_id, reply_status::pending, "null", ""};
    auto next_poll = std::min(until, now + wait.poll);
    while (listener && clock::now() < next_poll) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(next_poll - clock::now());
      auto keys = listener->wait(std::max(left, std::chrono::milliseconds(1)));
      if (!keys) {
        listener.reset();
      } else if (std::find(keys->begin(), keys->end(), request_id) != keys->end()) {
        break;
      }
    }
    if (!listener) std::this_thread::sleep_until(next_poll);
  }
}

/// A listener on postbox_reply that is listening now (so no NOTIFY sent after this
/// returns is missed), or none when LISTEN is off or failed: then we poll.
std::unique_ptr<notification_listener> reply_listener(const pg_session& session,
                                                      const reply_wait& wait) {
  if (!wait.listen || wait.timeout.count() <= 0) return nullptr;
  auto l = std::make_unique<notification_listener>(session.options().dsn, "postbox_reply");
  if (!l->wait(std::chrono::milliseconds(0))) return nullptr;
  return l;
}

}  // namespace

caf::expected<ask_reply> client::ask(const std::string& queue, const std::string& type,
                                     const std::string& json_payload, const ask_options& options) {
  auto headers = decode_message_headers(options.headers.empty() ? "{}" : options.headers);
  if (!headers) return headers.error();
  std::string id = options.request_id;
  if (id.empty()) id = headers->reply_key;
  if (id.empty()) id = new_execution_id();
  if (!headers->reply_key.empty() && headers->reply_key != id)
    return make_error(errc::invalid_argument,
                      "the headers' reply_key differs from the request id " + id);
  if (id.size() > max_request_id)
    return make_error(errc::invalid_argument,
                      "a request id is at most " + std::to_string(max_request_id) + " bytes");
  headers->reply_key = id;
  auto until = std::chrono::steady_clock::now() + options.wait.timeout;
  // Listen before sending: a reply cannot come before the request.
  auto listener = reply_listener(*session_, options.wait);
  auto message_id = send(queue, type, json_payload, to_json(*headers));
  if (!message_id) return message_id.error();
  reply_store replies{*session_};
  return await_reply(replies, listener, id, *message_id, until, options.wait);
}

caf::expected<ask_reply> client::fetch_reply(const std::string& request_id,
                                             const reply_wait& wait) {
  if (request_id.empty() || request_id.size() > max_request_id)
    return make_error(errc::invalid_argument,
                      "a request id is 1 to " + std::to_string(max_request_id) + " bytes");
  auto until = std::chrono::steady_clock::now() + wait.timeout;
  auto listener = reply_listener(*session_, wait);
  reply_store replies{*session_};
  return await_reply(replies, listener, request_id, 0, until, wait);
}

}  // namespace postbox

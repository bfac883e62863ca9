// Boost.JSON encoding and strict, non-throwing decoding of the message structs.
// Decoding reads fields by hand (no value_to) so every error can name the offending field.
#include "messages/json_codec.hpp"

#include <boost/json.hpp>
#include <cstdint>
#include <exception>
#include <limits>
#include <postbox/priority.hpp>
#include <utility>
#include <vector>

#include "messages/error.hpp"

namespace postbox {

namespace json = boost::json;

namespace {

// Field errors are plain strings ("" = ok) until the boundary wraps them in a caf::error,
// which keeps the helpers small and free of caf types.
using problem = std::string;

// "integer" for both int64 and uint64: callers care about the JSON type, not the storage.
const char* kind_name(const json::value& v) {
  switch (v.kind()) {
    case json::kind::null:
      return "null";
    case json::kind::bool_:
      return "bool";
    case json::kind::int64:
    case json::kind::uint64:
      return "integer";
    case json::kind::double_:
      return "double";
    case json::kind::string:
      return "string";
    case json::kind::array:
      return "array";
    case json::kind::object:
      return "object";
  }
  return "unknown";
}

problem field_problem(const std::string& field, const std::string& what) {
  return "field '" + field + "': " + what;
}

problem type_problem(const std::string& field, const char* expected, const json::value& got) {
  return field_problem(field, std::string("expected ") + expected + ", got " + kind_name(got));
}

enum class presence { required, optional };

// Optional fields treat an explicit null like an absent key: writers in other languages
// commonly emit null for "not set".
const json::value* lookup(const json::object& o, const char* key, presence p) {
  const json::value* v = o.if_contains(key);
  if (v && v->is_null() && p == presence::optional) return nullptr;
  return v;
}

problem read_string(const json::object& o, const std::string& prefix, const char* key, presence p,
                    bool non_empty, std::string& out) {
  const std::string field = prefix + key;
  const json::value* v = lookup(o, key, p);
  if (!v) return p == presence::required ? field_problem(field, "missing") : problem{};
  const json::string* s = v->if_string();
  if (!s) return type_problem(field, "string", *v);
  if (non_empty && s->empty()) return field_problem(field, "must not be empty");
  out.assign(s->data(), s->size());
  return {};
}

// Doubles are refused even when integral (3.0): a producer sending them is already wrong.
problem read_int32(const json::object& o, const std::string& prefix, const char* key, presence p,
                   int32_t min, int32_t& out) {
  const std::string field = prefix + key;
  const json::value* v = lookup(o, key, p);
  if (!v) return p == presence::required ? field_problem(field, "missing") : problem{};
  constexpr int64_t max = std::numeric_limits<int32_t>::max();
  int64_t n = 0;
  if (const int64_t* i = v->if_int64())
    n = *i;
  else if (v->is_uint64())
    return field_problem(field, "out of range");  // parsed as uint64 only above INT64_MAX
  else
    return type_problem(field, "integer", *v);
  if (n < min) return field_problem(field, "must be >= " + std::to_string(min));
  if (n > max) return field_problem(field, "out of range");
  out = static_cast<int32_t>(n);
  return {};
}

problem read_string_array(const json::object& o, const std::string& prefix, const char* key,
                          presence p, std::vector<std::string>& out) {
  const std::string field = prefix + key;
  const json::value* v = lookup(o, key, p);
  if (!v) return p == presence::required ? field_problem(field, "missing") : problem{};
  const json::array* a = v->if_array();
  if (!a) return type_problem(field, "array", *v);
  std::vector<std::string> result;
  result.reserve(a->size());
  for (std::size_t i = 0; i < a->size(); ++i) {
    const json::string* s = (*a)[i].if_string();
    if (!s) return type_problem(field + "[" + std::to_string(i) + "]", "string", (*a)[i]);
    result.emplace_back(s->data(), s->size());
  }
  out = std::move(result);
  return {};
}

json::array to_array(const std::vector<std::string>& xs) {
  json::array a;
  a.reserve(xs.size());
  for (const auto& x : xs) a.emplace_back(x);
  return a;
}

// The payload is stored as text but embedded as an object so the stored JSON stays queryable.
json::value payload_value(const std::string& text) {
  if (text.find_first_not_of(" \t\r\n") == std::string::npos) return json::object{};
  json::error_code ec;
  json::value v = json::parse(text, ec);
  if (!ec && v.is_object()) return v;
  return json::string(text);
}

json::object continuation_object(const continuation& x) {
  json::object o;
  o["queue"] = x.queue;
  o["type"] = x.type;
  o["payload"] = payload_value(x.payload);
  if (x.ends_execution) o["ends_execution"] = true;
  if (!x.actor_key.empty() || !x.actor_type.empty())
    o["actor"] = json::object{{"type", x.actor_type}, {"key", x.actor_key}};
  if (!x.dedup_key.empty()) {
    o["dedup_key"] = x.dedup_key;
    if (!x.dedup_mode.empty()) o["dedup_mode"] = x.dedup_mode;
    if (x.dedup_ttl_ms > 0) o["dedup_ttl_ms"] = x.dedup_ttl_ms;
  }
  if (!x.limit_key.empty()) o["limit_key"] = x.limit_key;
  if (auto p = priority_from_int(x.priority)) o["priority"] = to_string(*p);
  return o;
}

// {"type": ..., "key": ...}: an actor's address, both 1 to 256 bytes.
problem read_actor(const json::object& o, const std::string& prefix, std::string& type,
                   std::string& key) {
  type.clear();
  key.clear();
  const json::value* v = lookup(o, "actor", presence::optional);
  if (!v) return {};
  const json::object* a = v->if_object();
  if (!a) return type_problem(prefix + "actor", "object", *v);
  if (auto e = read_string(*a, prefix + "actor.", "type", presence::required, true, type);
      !e.empty())
    return e;
  if (auto e = read_string(*a, prefix + "actor.", "key", presence::required, true, key); !e.empty())
    return e;
  if (type.size() > 256) return field_problem(prefix + "actor.type", "longer than 256 bytes");
  if (key.size() > 256) return field_problem(prefix + "actor.key", "longer than 256 bytes");
  return {};
}

// "dedup_key" (1 to 512 bytes), "dedup_mode" (until_done, ttl, replace), "dedup_ttl_ms"
// (above zero, with ttl only).
problem read_dedup(const json::object& o, const std::string& prefix, std::string& key,
                   std::string& mode, int64_t& ttl_ms) {
  key.clear();
  mode.clear();
  ttl_ms = 0;
  if (auto e = read_string(o, prefix, "dedup_key", presence::optional, true, key); !e.empty())
    return e;
  if (auto e = read_string(o, prefix, "dedup_mode", presence::optional, true, mode); !e.empty())
    return e;
  if (const json::value* v = lookup(o, "dedup_ttl_ms", presence::optional)) {
    if (!v->is_int64() || v->as_int64() <= 0)
      return field_problem(prefix + "dedup_ttl_ms", "must be an integer above zero");
    ttl_ms = v->as_int64();
  }
  if (key.size() > max_dedup_key_bytes)
    return field_problem(prefix + "dedup_key", "longer than 512 bytes");
  if (is_tick_dedup_key(key))
    return field_problem(prefix + "dedup_key",
                         "has the form of a schedule tick's key "
                         "(name@YYYY-MM-DDTHH:MM:SS.sssZ), reserved for "
                         "schedule ticks");
  if (!mode.empty() && !parse_dedup_mode(mode))
    return field_problem(prefix + "dedup_mode", "must be until_done, ttl or replace");
  if (key.empty() && (!mode.empty() || ttl_ms > 0))
    return field_problem(prefix + "dedup_mode", "goes with a dedup_key");
  if ((mode == "ttl") != (ttl_ms > 0))
    return field_problem(prefix + "dedup_ttl_ms", "goes with dedup_mode ttl (and it needs one)");
  return {};
}

problem fill(const json::object& o, const std::string& prefix, continuation& x) {
  if (auto e = read_actor(o, prefix, x.actor_type, x.actor_key); !e.empty()) return e;
  // To an actor the queue is optional (its type's queue); otherwise it is the target.
  x.queue.clear();
  const auto queue_presence = x.actor_key.empty() ? presence::required : presence::optional;
  if (auto e = read_string(o, prefix, "queue", queue_presence, x.actor_key.empty(), x.queue);
      !e.empty())
    return e;
  if (auto e = read_string(o, prefix, "type", presence::required, true, x.type); !e.empty())
    return e;
  x.payload = "{}";
  if (const json::value* v = lookup(o, "payload", presence::optional)) {
    if (!v->is_object()) return type_problem(prefix + "payload", "object", *v);
    x.payload = json::serialize(*v);
  }
  x.ends_execution = false;
  if (const json::value* v = lookup(o, "ends_execution", presence::optional)) {
    if (!v->is_bool()) return type_problem(prefix + "ends_execution", "boolean", *v);
    x.ends_execution = v->as_bool();
  }
  if (auto e = read_dedup(o, prefix, x.dedup_key, x.dedup_mode, x.dedup_ttl_ms); !e.empty())
    return e;
  x.limit_key.clear();
  if (auto e = read_string(o, prefix, "limit_key", presence::optional, true, x.limit_key);
      !e.empty())
    return e;
  if (x.limit_key.size() > 256) return field_problem(prefix + "limit_key", "longer than 256 bytes");
  x.priority = -1;
  if (const json::value* v = lookup(o, "priority", presence::optional)) {
    const json::string* name = v->if_string();
    if (!name) return type_problem(prefix + "priority", "string", *v);
    auto p = priority_from_string(std::string(name->c_str()));
    if (!p)
      return field_problem(prefix + "priority", "must be one of low, normal, high, urgent, got \"" +
                                                    std::string(name->c_str()) + "\"");
    x.priority = static_cast<int16_t>(*p);
  }
  return {};
}

problem fill(const json::object& o, message_headers& x) {
  struct slot {
    const char* key;
    bool* flag;
    continuation* value;
  };
  for (const slot& s : {slot{"on_success", &x.has_on_success, &x.on_success},
                        slot{"on_error", &x.has_on_error, &x.on_error}}) {
    const json::value* v = lookup(o, s.key, presence::optional);
    if (!v) continue;
    const json::object* inner = v->if_object();
    if (!inner) return type_problem(s.key, "object", *v);
    if (auto e = fill(*inner, std::string(s.key) + ".", *s.value); !e.empty()) return e;
    *s.flag = true;
  }
  if (auto e = read_string(o, "", "reply_key", presence::optional, false, x.reply_key); !e.empty())
    return e;
  if (const json::value* v = lookup(o, "reply_to", presence::optional)) {
    const json::object* inner = v->if_object();
    if (!inner) return type_problem("reply_to", "object", *v);
    if (auto e = fill(*inner, "reply_to.", x.reply_to); !e.empty()) return e;
    if (x.reply_to.actor_key.empty()) return field_problem("reply_to.actor", "missing");
    x.has_reply_to = true;
  }
  if (const json::value* g = lookup(o, "group", presence::optional)) {
    const json::object* inner = g->if_object();
    if (!inner) return type_problem("group", "object", *g);
    if (auto e = read_string(*inner, "group.", "id", presence::required, true, x.group_id);
        !e.empty())
      return e;
    if (auto e = read_int32(*inner, "group.", "index", presence::required, 0, x.child_index);
        !e.empty())
      return e;
  }
  return read_string(o, "", "trace_id", presence::optional, false, x.trace_id);
}

problem fill(const json::object& o, execute_workflow& x) {
  if (auto e = read_string(o, "", "workflow", presence::required, true, x.workflow); !e.empty())
    return e;
  if (auto e = read_string(o, "", "execution_id", presence::required, true, x.execution_id);
      !e.empty())
    return e;
  if (auto e = read_string(o, "", "org", presence::optional, false, x.org); !e.empty()) return e;
  if (auto e = read_string_array(o, "", "blob_ids", presence::optional, x.blob_ids); !e.empty())
    return e;
  // files may be left out when the input comes entirely from blobs.
  const auto files_presence = x.blob_ids.empty() ? presence::required : presence::optional;
  if (auto e = read_string_array(o, "", "files", files_presence, x.files); !e.empty()) return e;
  if (x.files.empty() && x.blob_ids.empty()) return field_problem("files", "no files or blob_ids");
  return read_int32(o, "", "batch_size", presence::optional, 0, x.batch_size);
}

problem fill(const json::object& o, process_file_batch& x) {
  if (auto e = read_string(o, "", "execution_id", presence::required, true, x.execution_id);
      !e.empty())
    return e;
  if (auto e = read_int32(o, "", "batch_index", presence::required, 0, x.batch_index); !e.empty())
    return e;
  if (auto e = read_string_array(o, "", "files", presence::required, x.files); !e.empty()) return e;
  if (auto e = read_string(o, "", "workflow", presence::optional, false, x.workflow); !e.empty())
    return e;
  return read_string(o, "", "org", presence::optional, false, x.org);
}

problem fill(const json::object& o, execution_callback& x) {
  return read_string(o, "", "execution_id", presence::required, true, x.execution_id);
}

// The single exception boundary: parsing may still throw (e.g. bad_alloc), and no exception
// may reach an actor handler.
template <class T, class Fill>
caf::expected<T> decode(const std::string& text, Fill&& fill_fn) {
  try {
    json::error_code ec;
    json::value v = json::parse(text, ec);
    if (ec) return make_error(errc::decode_failed, "invalid JSON: " + ec.message());
    const json::object* o = v.if_object();
    if (!o) return make_error(errc::decode_failed, "expected a JSON object");
    T x;
    if (auto e = fill_fn(*o, x); !e.empty()) return make_error(errc::decode_failed, std::move(e));
    return x;
  } catch (const std::exception& ex) {
    return make_error(errc::decode_failed, std::string("decoder failed: ") + ex.what());
  }
}

}  // namespace

std::string to_json(const execute_workflow& x) {
  json::object o;
  o["org"] = x.org;
  o["workflow"] = x.workflow;
  o["execution_id"] = x.execution_id;
  o["files"] = to_array(x.files);
  o["blob_ids"] = to_array(x.blob_ids);
  o["batch_size"] = x.batch_size;
  return json::serialize(o);
}

std::string to_json(const process_file_batch& x) {
  json::object o;
  o["execution_id"] = x.execution_id;
  o["workflow"] = x.workflow;
  o["org"] = x.org;
  o["batch_index"] = x.batch_index;
  o["files"] = to_array(x.files);
  return json::serialize(o);
}

std::string to_json(const execution_callback& x) {
  json::object o;
  o["execution_id"] = x.execution_id;
  return json::serialize(o);
}

std::string to_json(const continuation& x) {
  return json::serialize(continuation_object(x));
}

std::string to_json(const message_headers& x) {
  json::object o;
  if (x.has_on_success) o["on_success"] = continuation_object(x.on_success);
  if (x.has_on_error) o["on_error"] = continuation_object(x.on_error);
  if (!x.trace_id.empty()) o["trace_id"] = x.trace_id;
  if (!x.group_id.empty()) o["group"] = json::object{{"id", x.group_id}, {"index", x.child_index}};
  if (!x.reply_key.empty()) o["reply_key"] = x.reply_key;
  if (x.has_reply_to) o["reply_to"] = continuation_object(x.reply_to);
  return json::serialize(o);
}

caf::expected<execute_workflow> decode_execute_workflow(const std::string& text) {
  return decode<execute_workflow>(
      text, [](const json::object& o, execute_workflow& x) { return fill(o, x); });
}

caf::expected<process_file_batch> decode_process_file_batch(const std::string& text) {
  return decode<process_file_batch>(
      text, [](const json::object& o, process_file_batch& x) { return fill(o, x); });
}

caf::expected<execution_callback> decode_execution_callback(const std::string& text) {
  return decode<execution_callback>(
      text, [](const json::object& o, execution_callback& x) { return fill(o, x); });
}

caf::expected<continuation> decode_continuation(const std::string& text) {
  return decode<continuation>(
      text, [](const json::object& o, continuation& x) { return fill(o, "", x); });
}

caf::expected<message_headers> decode_message_headers(const std::string& text) {
  return decode<message_headers>(
      text, [](const json::object& o, message_headers& x) { return fill(o, x); });
}

}  // namespace postbox

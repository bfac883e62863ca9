#include "actors/runtime/program_protocol.hpp"

#include <boost/json.hpp>
#include <ctime>

#include "messages/error.hpp"
#include "messages/json_codec.hpp"

namespace postbox {

namespace json = boost::json;

namespace {

json::value text_or_null(const std::string& s) {
  return s.empty() ? json::value(nullptr) : json::value(s);
}

/// now + `left` as UTC ISO 8601 with milliseconds.
std::string wall_deadline(std::chrono::milliseconds left) {
  auto at = std::chrono::system_clock::now() + left;
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(at.time_since_epoch()).count();
  std::time_t secs = static_cast<std::time_t>(ms / 1000);
  std::tm tm{};
  ::gmtime_r(&secs, &tm);
  char buf[40];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm);
  char out[48];
  std::snprintf(out, sizeof out, "%s.%03dZ", buf, static_cast<int>(ms % 1000));
  return out;
}

caf::error shape(const std::string& what) {
  return make_error(errc::invalid_argument, "answer " + what);
}

caf::expected<message_out> decode_send(const json::value& v, const std::string& at) {
  if (!v.is_object()) return shape(at + " must be an object");
  const auto& o = v.as_object();
  message_out m;
  std::string headers = "{";
  for (const auto& kv : o) {
    const std::string key{kv.key()};
    const json::value& x = kv.value();
    if (key == "queue" || key == "type" || key == "execution_id" || key == "org") {
      if (!x.is_string()) return shape(at + "." + key + " must be a string");
      std::string s{x.as_string()};
      if (key == "queue")
        m.queue = std::move(s);
      else if (key == "type")
        m.type = std::move(s);
      else if (key == "execution_id")
        m.execution_id = std::move(s);
      else
        m.org = std::move(s);
    } else if (key == "payload") {
      if (!x.is_object()) return shape(at + ".payload must be an object");
      m.payload = json::serialize(x);
    } else if (key == "actor") {
      // {"type": ..., "key": ...}: a keyed message, in that actor's turn.
      const json::object* a = x.if_object();
      const json::value* type = a ? a->if_contains("type") : nullptr;
      const json::value* id = a ? a->if_contains("key") : nullptr;
      if (!a || a->size() != 2 || !type || !id || !type->is_string() || !id->is_string())
        return shape(at + ".actor must be {\"type\": string, \"key\": string}");
      m.actor_type = std::string(type->as_string());
      m.actor_key = std::string(id->as_string());
      if (m.actor_type.empty() || m.actor_type.size() > 256 || m.actor_key.empty() ||
          m.actor_key.size() > 256)
        return shape(at + ".actor's type and key are 1 to 256 bytes each");
    } else if (key == "limit_key") {
      if (!x.is_string() || x.as_string().empty() || x.as_string().size() > 256)
        return shape(at + ".limit_key must be a string of 1 to 256 bytes");
      m.limit_key = std::string(x.as_string());
    } else if (key == "delay_ms") {
      if (!x.is_int64() || x.as_int64() < 0)
        return shape(at + ".delay_ms must be a non-negative integer");
      m.delay = std::chrono::milliseconds(x.as_int64());
    } else if (key == "dedup_key" || key == "dedup_mode") {
      if (!x.is_string() || x.as_string().empty())
        return shape(at + "." + key + " must be a non-empty string");
      if (key == "dedup_key") {
        m.dedup_key = std::string(x.as_string());
        if (m.dedup_key.size() > max_dedup_key_bytes)
          return shape(at + ".dedup_key is 1 to 512 bytes");
        if (is_tick_dedup_key(m.dedup_key))
          return shape(at + ".dedup_key: " + tick_dedup_key_refusal(m.dedup_key));
      } else {
        auto mode = parse_dedup_mode(std::string(x.as_string()));
        if (!mode) return shape(at + ".dedup_mode must be until_done, ttl or replace");
        m.dedup_mode = *mode;
      }
    } else if (key == "dedup_ttl_ms") {
      if (!x.is_int64() || x.as_int64() <= 0)
        return shape(at + ".dedup_ttl_ms must be an integer above zero");
      m.dedup_ttl = std::chrono::milliseconds(x.as_int64());
    } else if (key == "priority") {
      // A tier's name; absent: the type's default from the topology, else normal.
      auto tier = x.is_string() ? priority_from_string(std::string(x.as_string())) : std::nullopt;
      if (!tier)
        return shape(at + ".priority must be one of \"low\", \"normal\", \"high\", \"urgent\"");
      m.priority = tier;
    } else if (key == "on_success" || key == "on_error") {
      if (!x.is_object()) return shape(at + "." + key + " must be an object");
      headers += std::string(headers.size() > 1 ? "," : "") + json::serialize(json::string(key)) +
                 ":" + json::serialize(x);
    } else {
      return shape(at + " has an unknown key \"" + key +
                   "\" (queue, actor, type, payload, delay_ms, priority, on_success, "
                   "on_error, execution_id, org, dedup_key, dedup_mode, dedup_ttl_ms, "
                   "limit_key)");
    }
  }
  if (m.queue.empty() && m.actor_key.empty()) return shape(at + ".queue (or .actor) is missing");
  if (!m.actor_key.empty() && m.delay.count() != 0)
    return shape(at + ": a message to an actor is not delayed (its turn comes in order)");
  if (m.type.empty()) return shape(at + ".type is missing");
  if (m.dedup_key.empty() && (m.dedup_mode != dedup_mode::until_done || m.dedup_ttl.count() > 0))
    return shape(at + ": dedup_mode and dedup_ttl_ms go with a dedup_key");
  if ((m.dedup_mode == dedup_mode::ttl) != (m.dedup_ttl.count() > 0))
    return shape(at + ": dedup_mode ttl goes with dedup_ttl_ms (and only it)");
  auto h = decode_message_headers(headers + "}");
  if (!h) return shape(at + ": " + describe(h.error()));
  m.headers = std::move(*h);
  return m;
}

}  // namespace

std::string encode_request(const program_request& r) {
  json::object o;
  o["id"] = r.id;
  o["queue"] = r.queue;
  o["type"] = r.type;
  o["execution_id"] = text_or_null(r.execution_id);
  o["org"] = text_or_null(r.org);
  o["attempt"] = r.attempt;
  json::error_code ec;
  json::value payload = json::parse(r.payload_json, ec);
  o["payload"] = ec ? json::value(json::object()) : std::move(payload);
  o["deadline_ms"] = static_cast<int64_t>(r.time_left.count());
  o["deadline"] = wall_deadline(r.time_left);
  return json::serialize(o);  // serialize escapes control characters: one line
}

caf::expected<program_answer> decode_answer(const std::string& line) {
  json::error_code ec;
  json::value v = json::parse(line, ec);
  if (ec || !v.is_object()) {
    std::string shown = line.size() > 200 ? line.substr(0, 200) + "..." : line;
    return make_error(errc::decode_failed,
                      "not a JSON object on one line: " + json::serialize(json::string(shown)));
  }
  const auto& o = v.as_object();
  const json::value* ok = o.if_contains("ok");
  if (!ok || !ok->is_bool()) return shape("needs \"ok\": true or false");
  program_answer a;
  a.ok = ok->as_bool();
  for (const auto& kv : o) {
    const std::string key{kv.key()};
    const json::value& x = kv.value();
    if (key == "ok") continue;
    if (a.ok && key == "result") {
      a.result_json = json::serialize(x);
    } else if (a.ok && key == "reply") {
      a.has_reply = true;
      a.reply_json = json::serialize(x);
    } else if (a.ok && key == "send") {
      if (!x.is_array()) return shape("send must be a list of messages");
      std::size_t i = 0;
      for (const auto& item : x.as_array()) {
        auto m = decode_send(item, "send[" + std::to_string(i++) + "]");
        if (!m) return m.error();
        a.sends.push_back(std::move(*m));
      }
    } else if (!a.ok && key == "error") {
      a.error = x.is_string() ? std::string(x.as_string()) : json::serialize(x);
    } else if (!a.ok && key == "retry") {
      if (!x.is_bool()) return shape("retry must be true or false");
      a.retry = x.as_bool();
    } else {
      return shape(std::string("has an unknown key \"") + key + "\" (" +
                   (a.ok ? "with ok true: result, reply, send" : "with ok false: error, retry") +
                   ")");
    }
  }
  if (!a.ok && a.error.empty()) a.error = "the program reported a failure without an error text";
  return a;
}

}  // namespace postbox

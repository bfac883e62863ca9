// Continuations: the caller's payload object, plus what happened.
#include "actors/runtime/continuations.hpp"

#include <boost/json.hpp>

#include "messages/json_codec.hpp"

namespace postbox {

namespace {

std::optional<outgoing_message> build(const delivery& d, const continuation& c,
                                      const boost::json::object& extra) {
  boost::json::error_code ec;
  auto v = boost::json::parse(c.payload, ec);
  boost::json::object payload;
  if (!ec && v.is_object()) payload = v.as_object();
  for (const auto& kv : extra) payload[kv.key()] = kv.value();
  outgoing_message m;
  m.queue = c.queue;
  m.type = c.type;
  // To an actor: a keyed message, in its turn (queue may be empty: the type's).
  m.actor_type = c.actor_type;
  m.actor_key = c.actor_key;
  // A continuation may carry a dedup key: fired twice (a redelivery), it enqueues once.
  m.dedup_key = c.dedup_key;
  m.dedup_mode = parse_dedup_mode(c.dedup_mode).value_or(dedup_mode::until_done);
  m.dedup_ttl = std::chrono::milliseconds(c.dedup_ttl_ms);
  m.limit_key = c.limit_key;
  m.priority = priority_from_int(c.priority);  // unset: the type's default
  // The execution's own continuation, fired as it ends, is new work outside it (guarantee
  // 9): a cancel of it never refuses its handler's effects; the payload names it. A
  // message's own continuation is a step of its execution, as the message was.
  if (!c.ends_execution) m.execution_id = d.execution_id;
  m.org = d.org;
  m.payload = boost::json::serialize(payload);
  return m;
}

}  // namespace

std::optional<outgoing_message> on_success_message(const delivery& d,
                                                   const std::string& result_json) {
  auto h = decode_message_headers(d.headers.empty() ? "{}" : d.headers);
  if (!h || !h->has_on_success) return std::nullopt;
  boost::json::object extra{{"status", "COMPLETED"}, {"message_id", d.id}};
  // A continuation's continuation keeps the execution its payload names.
  if (!d.execution_id.empty()) extra["execution_id"] = d.execution_id;
  if (!result_json.empty()) {
    // The caller made it storable JSON; a parse failure here would be a bug, kept as text.
    boost::json::error_code ec;
    auto v = boost::json::parse(result_json, ec);
    extra["result"] = ec ? boost::json::value(result_json) : v;
  }
  return build(d, h->on_success, extra);
}

std::string on_error_spec(const delivery& d) {
  boost::json::error_code ec;
  auto v = boost::json::parse(d.headers.empty() ? "{}" : d.headers, ec);
  if (ec || !v.is_object()) return {};
  auto it = v.as_object().find("on_error");
  return it == v.as_object().end() ? std::string() : boost::json::serialize(it->value());
}

std::optional<group_member> group_of(const delivery& d) {
  // Read on its own: a continuation that does not decode must not cost the group
  // its child.
  boost::json::error_code ec;
  auto v = boost::json::parse(d.headers.empty() ? "{}" : d.headers, ec);
  if (ec || !v.is_object()) return std::nullopt;
  auto g = v.as_object().find("group");
  if (g == v.as_object().end() || !g->value().is_object()) return std::nullopt;
  const auto& o = g->value().as_object();
  auto id = o.find("id");
  auto index = o.find("index");
  if (id == o.end() || !id->value().is_string() || index == o.end() || !index->value().is_int64())
    return std::nullopt;
  return group_member{std::string(id->value().as_string()),
                      static_cast<int32_t>(index->value().as_int64())};
}

std::optional<outgoing_message> on_error_message(const delivery& d, const std::string& error) {
  auto h = decode_message_headers(d.headers.empty() ? "{}" : d.headers);
  if (!h || !h->has_on_error) return std::nullopt;
  boost::json::object extra{{"status", "ERROR"}, {"error", error}, {"message_id", d.id}};
  if (!d.execution_id.empty()) extra["execution_id"] = d.execution_id;
  return build(d, h->on_error, extra);
}

}  // namespace postbox

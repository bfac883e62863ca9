// A runtime handler's success, committed in one transaction.
#include "persistence/handled_commit.hpp"

#include <boost/json.hpp>

#include "persistence/detail/tx_context.hpp"

namespace postbox {

namespace {

/// The stored callback ({queue, type, payload, headers, execution_id, org}) with the
/// group's outcomes added to its payload.
caf::expected<outgoing_message> fired_callback(const std::string& callback_json,
                                               const std::string& group_id,
                                               const std::string& outcomes_json) {
  boost::json::error_code ec;
  auto v = boost::json::parse(callback_json, ec);
  if (ec || !v.is_object())
    return make_error(errc::decode_failed, "stored callback of group " + group_id + " is not JSON");
  const auto& o = v.as_object();
  auto text = [&](const char* key) -> std::string {
    auto it = o.find(key);
    return it != o.end() && it->value().is_string() ? std::string(it->value().as_string()) : "";
  };
  boost::json::object payload;
  if (auto it = o.find("payload"); it != o.end() && it->value().is_object())
    payload = it->value().as_object();
  payload["group"] = group_id;
  payload["results"] = boost::json::parse(outcomes_json);
  outgoing_message m;
  m.queue = text("queue");
  m.type = text("type");
  m.execution_id = text("execution_id");
  m.org = text("org");
  m.payload = boost::json::serialize(payload);
  if (auto it = o.find("headers"); it != o.end() && it->value().is_object())
    m.headers = boost::json::serialize(it->value());
  return m;
}

}  // namespace

caf::expected<arrival> arrive_and_fire(tx_context& tx, const group_member& member,
                                       const child_outcome& outcome) {
  auto a = barrier_store::arrive(tx, member.group_id, member.index, outcome);
  if (!a) return a.error();
  if (a->fired && !a->callback_json.empty()) {
    auto outcomes = barrier_store::outcomes(tx, member.group_id);
    if (!outcomes) return outcomes.error();
    auto callback = fired_callback(a->callback_json, member.group_id, *outcomes);
    if (!callback) return callback.error();
    auto id = mailbox_store::send(tx, *callback);
    if (!id) return id.error();
  }
  return a;
}

caf::expected<success_outcome> commit_success(pg_session& session, const success_commit& c) {
  return session.transact_value<success_outcome>(
      retry_policy::once, [&](tx_context& tx) -> caf::expected<success_outcome> {
        if (auto err = mailbox_store::ack(tx, c.delivery)) return err;
        for (const auto& s : c.statements)
          if (auto err = run_statement(tx, s)) return err;
        if (!c.sends.empty()) {
          auto ids = mailbox_store::send_batch(tx, c.sends);
          if (!ids) return ids.error();
        }
        for (const auto& g : c.groups) {
          if (auto err = barrier_store::arm(tx, g.spec)) return err;
          auto ids = mailbox_store::send_batch(tx, g.children);
          if (!ids) return ids.error();
        }
        if (!c.reply_key.empty()) {
          tx.exec("replies_put", c.reply_key, c.delivery.message_id, c.reply_json);
        }
        if (c.on_success) {
          auto id = mailbox_store::send(tx, *c.on_success);
          if (!id) return id.error();
        }
        success_outcome out;
        if (c.arrive) {
          child_outcome o;
          o.result_json = c.result_json;
          o.message_id = c.delivery.message_id;
          auto a = arrive_and_fire(tx, *c.arrive, o);
          if (!a) return a.error();
          out.group_fired = a->fired;
        }
        if (c.before_commit) c.before_commit();
        return out;
      });
}

}  // namespace postbox

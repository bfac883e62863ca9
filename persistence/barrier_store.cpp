// SQL calls of barriers and barrier_arrivals.
#include "persistence/barrier_store.hpp"

#include <algorithm>

#include "persistence/detail/tx_context.hpp"

namespace postbox {

using detail::null_if_empty;

int32_t barrier_store::shards_for(const group_spec& spec) {
  // A small group's arrivals rarely meet on its row; a large one's would queue there.
  // About 16 children per shard, at most 64 shards (each closing shard touches the
  // group's row once). Shards hold child ids, so a group without them has none.
  if (spec.child_ids.size() != static_cast<size_t>(spec.expected) || spec.expected < 64) return 0;
  return std::min<int32_t>(64, spec.expected / 16);
}

caf::error barrier_store::arm(tx_context& tx, const group_spec& spec) {
  if (spec.expected <= 0)
    return make_error(errc::invalid_argument, "a barrier expects at least 1 child");
  std::optional<int64_t> parent;
  if (spec.parent_message_id != 0) parent = spec.parent_message_id;
  std::optional<std::string> children;
  if (!spec.child_ids.empty()) children = detail::pg_int_array(spec.child_ids);
  auto armed =
      tx.exec("barrier_arm", spec.group_id, spec.expected, null_if_empty(spec.execution_id),
              null_if_empty(spec.callback_json), parent, children, shards_for(spec));
  if (!armed.empty() && armed[0][0].as<bool>()) return {};
  // The id names a group armed earlier: arming nothing would leave the new children
  // waiting for a barrier that counts only the old group's messages.
  auto r = tx.exec("barrier_get", spec.group_id);
  std::string size = r.empty() ? std::string("?") : r[0][0].c_str();
  return make_error(errc::constraint_violation, "fan_out: group id '" + spec.group_id +
                                                    "' is already in use (armed with " + size +
                                                    " children); a new group needs a new id");
}

caf::error barrier_store::arm(tx_context& tx, const std::string& execution_id, int32_t expected) {
  group_spec spec;
  spec.group_id = execution_id;
  spec.expected = expected;
  spec.execution_id = execution_id;
  return arm(tx, spec);
}

caf::expected<arrival> barrier_store::arrive(tx_context& tx, const std::string& group_id,
                                             int32_t child_index, const child_outcome& outcome) {
  std::optional<int64_t> message_id;
  if (outcome.message_id != 0) message_id = outcome.message_id;
  std::optional<std::string> result, error;
  if (outcome.ok)
    result = outcome.result_json.empty() ? std::string("null") : outcome.result_json;
  else
    error = outcome.error;
  auto r = tx.exec("barrier_arrive", group_id, child_index, outcome.ok ? "ok" : "error", result,
                   error, message_id);
  if (r.empty() || r[0][0].is_null())
    return make_error(errc::not_found, "no barrier armed for " + group_id);
  auto expected = r[0][0].as<int32_t>();
  if (child_index < 0 || child_index >= expected)
    return make_error(
        errc::invalid_argument,
        "child " + std::to_string(child_index) + " outside barrier of " + std::to_string(expected));
  arrival a;
  a.counted = r[0][1].as<bool>();
  a.remaining = r[0][2].as<int32_t>();
  a.fired = r[0][4].as<bool>();
  a.has_callback = !r[0][3].is_null() && r[0][3].as<bool>();
  return a;
}

caf::expected<outgoing_message> barrier_store::fired_callback(tx_context& tx,
                                                              const std::string& group_id,
                                                              std::optional<handover>& place) {
  auto r = tx.exec("barrier_fire", group_id);
  if (r.empty()) return make_error(errc::not_found, "no stored callback for group " + group_id);
  outgoing_message m;
  m.queue = detail::text_or_empty(r[0][0]);
  m.type = detail::text_or_empty(r[0][1]);
  m.execution_id = detail::text_or_empty(r[0][2]);
  m.org = detail::text_or_empty(r[0][3]);
  m.payload = r[0][4].c_str();
  m.headers = r[0][5].c_str();
  m.actor_type = detail::text_or_empty(r[0][9]);
  m.actor_key = detail::text_or_empty(r[0][10]);
  place.reset();
  if (!r[0][6].is_null() && !r[0][7].is_null() && !r[0][8].is_null())
    place = handover{r[0][6].c_str(), r[0][7].as<int32_t>(), r[0][8].as<int64_t>()};
  return m;
}

caf::error barrier_store::hand_over(tx_context& tx, const handover& h, int64_t to_message_id) {
  tx.exec("barrier_hand_over", h.group_id, h.index, h.from_message_id, to_message_id);
  return {};
}

caf::expected<barrier_state> barrier_store::lock(tx_context& tx, const std::string& group_id) {
  auto r = tx.exec("barrier_lock", group_id);
  if (r.empty()) return make_error(errc::not_found, "no barrier armed for " + group_id);
  return barrier_state{r[0][0].as<int32_t>(), r[0][1].as<int32_t>(), r[0][2].as<bool>()};
}

caf::error barrier_store::arm(const std::string& execution_id, int32_t expected) {
  return session_.transact(retry_policy::once,
                           [&](tx_context& tx) { return arm(tx, execution_id, expected); });
}

caf::expected<arrival> barrier_store::arrive(const std::string& group_id, int32_t child_index) {
  // Idempotent by the arrival row, so the retry cannot count twice.
  return session_.transact_value<arrival>(
      retry_policy::once, [&](tx_context& tx) { return arrive(tx, group_id, child_index); });
}

caf::expected<barrier_state> barrier_store::get(const std::string& group_id) {
  return session_.transact_value<barrier_state>(
      retry_policy::once, [&](tx_context& tx) -> caf::expected<barrier_state> {
        auto r = tx.exec("barrier_get", group_id);
        if (r.empty()) return make_error(errc::not_found, "no barrier for " + group_id);
        return barrier_state{r[0][0].as<int32_t>(), r[0][1].as<int32_t>(), r[0][2].as<bool>()};
      });
}

}  // namespace postbox

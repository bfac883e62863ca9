// The SQL calls of keyed actors; each statement is one file in persistence/sql/.
#include "persistence/actor_store.hpp"

#include "persistence/detail/delivery_rows.hpp"
#include "persistence/detail/tx_context.hpp"

namespace postbox {

namespace {

actor_info info_of(const pqxx::row& row) {
  actor_info a;
  a.actor_type = row[0].c_str();
  a.actor_key = row[1].c_str();
  a.queue = row[2].c_str();
  a.head_id = row[3].is_null() ? 0 : row[3].as<int64_t>();
  a.head_age_s = row[4].is_null() ? 0 : row[4].as<double>();
  a.backlog = row[5].as<int64_t>();
  a.state_version = row[6].as<int64_t>();
  a.turns = row[7].as<int64_t>();
  a.blocked_since = row[8].is_null() ? 0 : row[8].as<double>();
  a.blocked_reason = detail::text_or_empty(row[9]);
  return a;
}

}  // namespace

caf::expected<int64_t> actor_store::put_state(tx_context& tx, const actor_state_write& w) {
  auto r = tx.exec("actor_state_put", w.actor_type, w.actor_key, w.state_json, w.expected_version);
  if (r.empty())
    // Its receipt held (the ack came first): the state changed under the turn (an
    // operator). Not the message's fault: given back uncharged, run again on the new state.
    return make_error(errc::serialization_failure,
                      "state of actor " + w.actor_type + "/" + w.actor_key +
                          " changed since version " + std::to_string(w.expected_version) +
                          ": this turn writes nothing and runs again");
  return r[0][0].as<int64_t>();
}

caf::expected<actor_state> actor_store::state(const std::string& actor_type,
                                              const std::string& actor_key) {
  return session_.transact_value<actor_state>(
      retry_policy::once, [&](tx_context& tx) -> caf::expected<actor_state> {
        auto r = tx.exec("actor_state_get", actor_type, actor_key);
        if (r.empty())
          return make_error(errc::not_found, "no actor " + actor_type + "/" + actor_key);
        actor_state s;
        s.state_json = r[0][0].is_null() ? "null" : r[0][0].c_str();
        s.version = r[0][1].as<int64_t>();
        return s;
      });
}

caf::error actor_store::block(const lease& l, const std::string& reason) {
  return session_.transact(retry_policy::once, [&](tx_context& tx) -> caf::error {
    auto r = tx.exec("actor_block", l.message_id, l.receipt, reason);
    if (r.empty())
      return make_error(errc::lease_lost, "block of message " + std::to_string(l.message_id) +
                                              " with stale receipt " + std::to_string(l.receipt));
    return {};
  });
}

caf::expected<int32_t> actor_store::promote(const std::string& queue, int32_t max) {
  return session_.transact_value<int32_t>(retry_policy::once,
                                          [&](tx_context& tx) -> caf::expected<int32_t> {
                                            auto r = tx.exec("actor_promote", queue, max);
                                            return r[0][0].as<int32_t>();
                                          });
}

caf::expected<int32_t> actor_store::retire_idle(std::chrono::milliseconds older, int32_t max) {
  return session_.transact_value<int32_t>(
      retry_policy::once, [&](tx_context& tx) -> caf::expected<int32_t> {
        auto r = tx.exec("actors_retire_idle", static_cast<int64_t>(older.count()), max);
        return r[0][0].as<int32_t>();
      });
}

caf::error actor_store::register_types(const std::map<std::string, std::string>& queues,
                                       const std::map<std::string, std::string>& on_poison,
                                       const std::string& node) {
  if (queues.empty()) return {};
  return session_.transact(retry_policy::once, [&](tx_context& tx) -> caf::error {
    for (const auto& [type, queue] : queues) {
      auto p = on_poison.find(type);
      tx.exec("actor_types_register", type, queue,
              p == on_poison.end() ? std::string("hold") : p->second, node);
    }
    return {};
  });
}

caf::expected<std::optional<std::string>> actor_store::queue_of(const std::string& actor_type) {
  return session_.transact_value<std::optional<std::string>>(
      retry_policy::once, [&](tx_context& tx) -> caf::expected<std::optional<std::string>> {
        auto r = tx.exec("actor_type_queue", actor_type);
        if (r.empty()) return std::optional<std::string>();
        return std::optional<std::string>(r[0][0].c_str());
      });
}

caf::expected<std::optional<int64_t>> actor_store::retry(const std::string& actor_type,
                                                         const std::string& actor_key) {
  return session_.transact_value<std::optional<int64_t>>(
      retry_policy::once, [&](tx_context& tx) -> caf::expected<std::optional<int64_t>> {
        auto r = tx.exec("actor_retry", actor_type, actor_key);
        if (r.empty() || r[0][0].is_null()) return std::optional<int64_t>();
        return std::optional<int64_t>(r[0][0].as<int64_t>());
      });
}

caf::expected<std::optional<delivery>> actor_store::take_blocked_head(const std::string& actor_type,
                                                                      const std::string& actor_key,
                                                                      const std::string& owner) {
  return session_.transact_value<std::optional<delivery>>(
      retry_policy::once, [&](tx_context& tx) -> caf::expected<std::optional<delivery>> {
        auto d = detail::deliveries_of(tx.exec("actor_take_head", actor_type, actor_key, owner));
        if (d.empty()) return std::optional<delivery>();
        return std::optional<delivery>(std::move(d.front()));
      });
}

caf::expected<std::vector<delivery>> actor_store::take_blocked_queue(const std::string& actor_type,
                                                                     const std::string& actor_key,
                                                                     const std::string& owner) {
  return session_.transact_value<std::vector<delivery>>(
      retry_policy::once, [&](tx_context& tx) -> caf::expected<std::vector<delivery>> {
        return detail::deliveries_of(tx.exec("actor_take_all", actor_type, actor_key, owner));
      });
}

caf::expected<std::vector<actor_info>> actor_store::list(bool blocked_only,
                                                         const std::string& actor_type,
                                                         int32_t limit) {
  return session_.transact_value<std::vector<actor_info>>(
      retry_policy::once, [&](tx_context& tx) -> caf::expected<std::vector<actor_info>> {
        std::vector<actor_info> out;
        for (const auto& row :
             tx.exec("actor_list", blocked_only, detail::null_if_empty(actor_type), limit))
          out.push_back(info_of(row));
        return out;
      });
}

caf::expected<std::vector<actor_type_info>> actor_store::types(const std::string& actor_type) {
  return session_.transact_value<std::vector<actor_type_info>>(
      retry_policy::once, [&](tx_context& tx) -> caf::expected<std::vector<actor_type_info>> {
        std::vector<actor_type_info> out;
        for (const auto& row : tx.exec("actor_types_list", detail::null_if_empty(actor_type)))
          out.push_back({row[0].c_str(), detail::text_or_empty(row[1]),
                         detail::text_or_empty(row[2]), row[3].as<int64_t>(), row[4].as<int64_t>(),
                         row[5].as<double>()});
        return out;
      });
}

caf::expected<actor_info> actor_store::show(const std::string& actor_type,
                                            const std::string& actor_key) {
  return session_.transact_value<actor_info>(
      retry_policy::once, [&](tx_context& tx) -> caf::expected<actor_info> {
        auto r = tx.exec("actor_show", actor_type, actor_key);
        if (r.empty())
          return make_error(errc::not_found, "no actor " + actor_type + "/" + actor_key);
        auto a = info_of(r[0]);
        a.state_json = r[0][10].is_null() ? "null" : r[0][10].c_str();
        return a;
      });
}

}  // namespace postbox

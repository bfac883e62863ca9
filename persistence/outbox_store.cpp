// SQL calls of the outbox table.
#include "persistence/outbox_store.hpp"

#include "persistence/detail/tx_context.hpp"

namespace postbox {

caf::expected<bool> outbox_store::enqueue(tx_context& tx, const std::string& execution_id,
                                          const std::string& kind, const std::string& payload) {
  return !tx.exec("outbox_enqueue", execution_id, kind, payload).empty();
}

caf::expected<bool> outbox_store::enqueue(const std::string& execution_id, const std::string& kind,
                                          const std::string& payload) {
  return session_.transact_value<bool>(
      retry_policy::once, [&](tx_context& tx) { return enqueue(tx, execution_id, kind, payload); });
}

caf::expected<std::vector<outbox_item>> outbox_store::claim_for_delivery(
    int max, std::chrono::milliseconds lease, const std::string& owner,
    const std::vector<std::string>& kinds) {
  return session_.transact_value<std::vector<outbox_item>>(
      retry_policy::once, [&](tx_context& tx) -> caf::expected<std::vector<outbox_item>> {
        std::vector<outbox_item> out;
        std::vector<std::optional<std::string>> k(kinds.begin(), kinds.end());
        auto r = tx.exec("outbox_claim", max, static_cast<int64_t>(lease.count()), owner,
                         detail::pg_text_array(k));
        for (const auto& row : r)
          out.push_back(outbox_item{row[0].as<int64_t>(), row[1].c_str(), row[2].c_str(),
                                    row[3].c_str(), row[4].as<int32_t>()});
        return out;
      });
}

caf::error outbox_store::mark_delivered(const outbox_item& item) {
  return session_.transact(retry_policy::once, [&](tx_context& tx) -> caf::error {
    auto r = tx.exec("outbox_mark_delivered", item.id, item.attempts);
    if (r.affected_rows() == 0)
      return make_error(errc::lease_lost,
                        "outbox row " + std::to_string(item.id) + " was claimed again or settled");
    return {};
  });
}

caf::expected<outbox_state> outbox_store::mark_failed(const outbox_item& item,
                                                      std::chrono::milliseconds retry_in,
                                                      int32_t max_attempts,
                                                      const std::string& error) {
  return session_.transact_value<outbox_state>(
      retry_policy::once, [&](tx_context& tx) -> caf::expected<outbox_state> {
        auto r = tx.exec("outbox_mark_failed", item.id, item.attempts,
                         static_cast<int64_t>(retry_in.count()), max_attempts, error);
        if (r.empty())
          return make_error(errc::lease_lost, "outbox row " + std::to_string(item.id) +
                                                  " was claimed again or settled");
        return std::string(r[0][0].c_str()) == "failed" ? outbox_state::failed
                                                        : outbox_state::pending;
      });
}

}  // namespace postbox

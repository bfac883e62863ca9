#include "persistence/limit_store.hpp"

#include <optional>
#include <vector>

#include "persistence/detail/tx_context.hpp"

namespace postbox {

caf::error limit_store::sync(const topology& topo) {
  return session_.transact(retry_policy::once, [&](tx_context& tx) -> caf::error {
    std::vector<std::string> scopes, keys;
    auto put = [&](const std::string& scope, const std::string& key, const limit_config& l) {
      std::optional<int32_t> max, burst;
      std::optional<double> rate;
      if (l.max_in_flight > 0) max = l.max_in_flight;
      if (l.rate > 0) {
        rate = l.rate;
        burst = l.burst;
      }
      tx.exec("limits_upsert", scope, key, max, rate, burst);
      tx.exec("limit_slots_sync", scope, key, l.max_in_flight);
      scopes.push_back(scope);
      keys.push_back(key);
    };
    for (const auto& [name, q] : topo.queues)
      if (q.limit.any()) put("queue", name, q.limit);
    for (const auto& [key, l] : topo.limits) put("key", key, l);
    tx.exec("limits_prune", detail::pg_text_array({scopes.begin(), scopes.end()}),
            detail::pg_text_array({keys.begin(), keys.end()}));
    return {};
  });
}

}  // namespace postbox

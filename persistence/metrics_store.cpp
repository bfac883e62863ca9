// SQL behind the database gauges of /metrics.
#include "persistence/metrics_store.hpp"

#include "persistence/detail/tx_context.hpp"

namespace postbox {

caf::expected<cluster_gauges> metrics_store::gauges(const std::vector<std::string>& queues,
                                                    std::chrono::milliseconds timeout) {
  std::vector<std::optional<std::string>> names(queues.begin(), queues.end());
  const auto names_array = detail::pg_text_array(names);
  const auto timeout_ms = std::to_string(timeout.count());
  return session_.transact_value<cluster_gauges>(
      retry_policy::never,
      [&](tx_context& tx) -> caf::expected<cluster_gauges> {
        tx.exec("metrics_statement_timeout", timeout_ms);
        cluster_gauges out;
        for (const auto& row : tx.exec("metrics_gauges", names_array)) {
          const std::string section = row[0].c_str();
          auto n = [&](int i) { return static_cast<int64_t>(row[i].as<double>()); };
          if (section == "queue")
            out.queues.push_back({row[1].c_str(), n(2), n(3), n(4), row[5].as<double>(), n(6)});
          else if (section == "tier")
            out.tiers.push_back(
                {row[1].c_str(), static_cast<int>(n(2)), n(3), row[4].as<double>()});
          else if (section == "outbox")
            out.outbox.push_back({row[1].c_str(), n(2), n(3)});
          else if (section == "actor")
            out.actors.push_back({row[1].c_str(), n(2), n(3), row[4].as<double>()});
          else if (section == "schedule")
            out.schedules.push_back(
                {row[1].c_str(), row[2].as<double>(), row[3].as<double>(), n(4), n(5), n(6)});
          else if (section == "dedup")
            out.dedup.push_back({row[1].c_str(), n(2), n(3)});
          else if (section == "limit") {
            const std::string label = row[1].c_str();
            const auto colon = label.find(':');
            out.limits.push_back(
                {label.substr(0, colon), label.substr(colon + 1), n(2), n(3), n(4), n(5)});
          } else if (section == "claims")
            out.claims_active = n(2);
        }
        return out;
      },
      tx_kind::read_only);
}

}  // namespace postbox

// SQL calls of the nodes table.
#include "persistence/node_registry_store.hpp"

#include <optional>

#include "persistence/detail/tx_context.hpp"

namespace postbox {

caf::error node_registry_store::heartbeat(const node_registration& node) {
  return session_.transact(
      retry_policy::once,
      [&](tx_context& tx) -> caf::error {
        std::vector<std::optional<std::string>> roles(node.roles.begin(), node.roles.end());
        tx.exec("nodes_heartbeat", node.name, node.host, node.control_port, node.http_port,
                detail::pg_text_array(roles), node.pid, node.incarnation);
        return {};
      },
      tx_kind::single_statement);
}

caf::expected<node_claim> node_registry_store::register_node(
    const node_registration& node, std::chrono::milliseconds fresh_within) {
  // Never retried: had a lost reply committed, a retry would find our own fresh row.
  return session_.transact_value<node_claim>(
      retry_policy::never,
      [&](tx_context& tx) -> caf::expected<node_claim> {
        std::vector<std::optional<std::string>> roles(node.roles.begin(), node.roles.end());
        std::vector<std::optional<std::string>> types(node.handled_types.begin(),
                                                      node.handled_types.end());
        auto r = tx.exec("nodes_register", node.name, node.host, node.control_port, node.http_port,
                         detail::pg_text_array(roles), node.pid,
                         static_cast<int64_t>(fresh_within.count()), detail::pg_text_array(types),
                         node.incarnation);
        node_claim out;
        out.registered = r[0][0].as<bool>();
        out.holder_pid = r[0][1].as<int32_t>();
        out.holder_host = r[0][2].c_str();
        out.heartbeat_age_s = r[0][3].as<double>();
        return out;
      },
      tx_kind::single_statement);
}

caf::error node_registry_store::record_workflows(const std::string& node,
                                                 const std::vector<workflow_row>& rows) {
  if (rows.empty()) return {};
  std::vector<std::optional<std::string>> names, processors;
  std::vector<int64_t> sizes;
  for (const auto& w : rows) {
    names.emplace_back(w.name);
    processors.emplace_back(w.processor);
    sizes.push_back(w.batch_size);
  }
  return session_.transact(
      retry_policy::once,
      [&](tx_context& tx) -> caf::error {
        tx.exec("workflows_record", detail::pg_text_array(names), detail::pg_text_array(processors),
                detail::pg_int_array(sizes), node);
        return {};
      },
      tx_kind::single_statement);
}

caf::expected<std::string> node_registry_store::node_handling(
    const std::string& queue, const std::string& type, const std::vector<std::string>& among) {
  return session_.transact_value<std::string>(
      retry_policy::once,
      [&](tx_context& tx) -> caf::expected<std::string> {
        auto r = tx.exec("nodes_handling_type", queue + ":" + type,
                         detail::pg_text_array({among.begin(), among.end()}));
        return r.empty() ? std::string() : std::string(r[0][0].c_str());
      },
      tx_kind::single_statement);
}

caf::expected<node_registry_store::queue_types> node_registry_store::types_on_queue(
    const std::string& queue, const std::vector<std::string>& among) {
  std::optional<std::string> names;
  if (!among.empty()) names = detail::pg_text_array({among.begin(), among.end()});
  return session_.transact_value<queue_types>(
      retry_policy::once,
      [&](tx_context& tx) -> caf::expected<queue_types> {
        auto r = tx.exec("nodes_types_on_queue", queue, names);
        queue_types out;
        std::string all = r[0][0].c_str();
        for (std::size_t at = 0; at < all.size();) {
          auto end = all.find('\n', at);
          if (end == std::string::npos) end = all.size();
          out.types.push_back(all.substr(at, end - at));
          at = end + 1;
        }
        out.unregistered = r[0][1].as<int64_t>();
        out.registered = r[0][2].as<int64_t>();
        return out;
      },
      tx_kind::single_statement);
}

}  // namespace postbox

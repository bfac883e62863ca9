// SQL calls of the nodes table.
#include "persistence/node_registry_store.hpp"

#include "persistence/detail/tx_context.hpp"

namespace postbox {

caf::error node_registry_store::heartbeat(const node_registration& node) {
  return session_.transact(
      retry_policy::once,
      [&](tx_context& tx) -> caf::error {
        std::vector<std::optional<std::string>> roles(node.roles.begin(), node.roles.end());
        tx.exec("nodes_heartbeat", node.name, node.host, node.control_port, node.http_port,
                detail::pg_text_array(roles), node.pid);
        return {};
      },
      tx_kind::single_statement);
}

}  // namespace postbox

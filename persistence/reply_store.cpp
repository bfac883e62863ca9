// SQL behind client::ask and client::reply.
#include "persistence/reply_store.hpp"

#include "persistence/detail/tx_context.hpp"

namespace postbox {

caf::expected<reply_lookup> reply_store::lookup(const std::string& key, int64_t message_id) {
  return session_.transact_value<reply_lookup>(
      retry_policy::once,
      [&](tx_context& tx) -> caf::expected<reply_lookup> {
        auto r = tx.exec("replies_get", key, message_id);
        reply_lookup out;
        if (r.empty()) return out;
        const auto& row = r[0];
        if (!row[0].is_null()) {
          out.status = std::string(row[0].c_str()) == "error" ? reply_lookup::state::failed
                                                              : reply_lookup::state::replied;
          out.body = row[1].c_str();
          out.error = row[2].c_str();
          out.message_id = row[3].as<int64_t>();
        } else if (!row[4].is_null()) {
          out.status = reply_lookup::state::waiting;
          out.message_id = row[4].as<int64_t>();
        }
        return out;
      },
      tx_kind::single_statement);
}

}  // namespace postbox

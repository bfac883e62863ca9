// SQL calls of the claims table.
#include "persistence/claims_store.hpp"

#include "persistence/detail/tx_context.hpp"

namespace postbox {

const char* to_string(claim_outcome x) {
  switch (x) {
    case claim_outcome::won:
      return "won";
    case claim_outcome::held:
      return "held";
    case claim_outcome::tombstoned:
      return "tombstoned";
  }
  return "unknown";
}

caf::expected<claim_outcome> claims_store::try_claim(tx_context& tx,
                                                     const std::string& execution_id,
                                                     const std::string& owner,
                                                     const lease& holder) {
  auto r = tx.exec("claims_try_claim", execution_id, owner, holder.message_id, holder.receipt);
  if (!r.empty()) return claim_outcome::won;
  auto cur = tx.exec("claims_get", execution_id);
  if (cur.empty()) return make_error(errc::not_found, "claim vanished for " + execution_id);
  return std::string(cur[0][0].c_str()) == "tombstone" ? claim_outcome::tombstoned
                                                       : claim_outcome::held;
}

caf::error claims_store::tombstone(tx_context& tx, const std::string& execution_id,
                                   const std::string& owner) {
  tx.exec("claims_tombstone", execution_id, owner);
  return {};
}

caf::expected<claim_outcome> claims_store::try_claim(const std::string& execution_id,
                                                     const std::string& owner,
                                                     const lease& holder) {
  // Retrying is safe: the same delivery re-taking its own claim wins again.
  return session_.transact_value<claim_outcome>(retry_policy::once, [&](tx_context& tx) {
    return try_claim(tx, execution_id, owner, holder);
  });
}

caf::error claims_store::tombstone(const std::string& execution_id, const std::string& owner) {
  return session_.transact(retry_policy::once,
                           [&](tx_context& tx) { return tombstone(tx, execution_id, owner); });
}

caf::error claims_store::release(const std::string& execution_id, const lease& holder) {
  return session_.transact(retry_policy::once, [&](tx_context& tx) -> caf::error {
    tx.exec("claims_release", execution_id, holder.message_id, holder.receipt);
    return {};
  });
}

caf::expected<std::vector<stale_claim>> claims_store::find_stale(
    std::chrono::milliseconds older_than, int limit) {
  return session_.transact_value<std::vector<stale_claim>>(
      retry_policy::once, [&](tx_context& tx) -> caf::expected<std::vector<stale_claim>> {
        std::vector<stale_claim> out;
        auto r = tx.exec("claims_find_stale", static_cast<int64_t>(older_than.count()), limit);
        for (const auto& row : r) {
          stale_claim c;
          c.execution_id = row[0].c_str();
          c.owner = row[1].c_str();
          c.message_id = row[2].as<int64_t>(0);
          c.receipt = row[3].as<int64_t>(0);
          c.updated_epoch = row[4].as<double>();
          out.push_back(std::move(c));
        }
        return out;
      });
}

}  // namespace postbox

// SQL calls of the reaper.
#include "persistence/maintenance_store.hpp"

#include "persistence/claims_store.hpp"
#include "persistence/detail/terminal.hpp"
#include "persistence/detail/tx_context.hpp"

namespace postbox {

namespace {

int64_t ms(std::chrono::milliseconds d) {
  return static_cast<int64_t>(d.count());
}

}  // namespace

caf::expected<int64_t> maintenance_store::acquire_leadership(const std::string& name,
                                                             const std::string& holder,
                                                             std::chrono::milliseconds ttl) {
  return session_.transact_value<int64_t>(
      retry_policy::once,
      [&](tx_context& tx) -> caf::expected<int64_t> {
        auto r = tx.exec("leader_acquire", name, holder, ms(ttl));
        return r.empty() ? int64_t{0} : r[0][0].as<int64_t>();
      },
      tx_kind::single_statement);
}

caf::error maintenance_store::resign_leadership(const std::string& name,
                                                const std::string& holder) {
  return session_.transact(
      retry_policy::once,
      [&](tx_context& tx) -> caf::error {
        tx.exec("leader_resign", name, holder);
        return {};
      },
      tx_kind::single_statement);
}

caf::expected<std::vector<std::string>> maintenance_store::fail_stranded(
    std::chrono::milliseconds stuck_after, int limit) {
  return session_.transact_value<std::vector<std::string>>(
      retry_policy::once, [&](tx_context& tx) -> caf::expected<std::vector<std::string>> {
        std::vector<std::string> ids;
        for (const auto& row : tx.exec("reaper_fail_stranded", ms(stuck_after), limit))
          ids.emplace_back(row[0].c_str());
        for (const auto& id : ids) {
          if (auto err = detail::record_terminal(tx, id)) return err;
          if (auto err = claims_store::tombstone(tx, id, "reaper")) return err;
        }
        if (!ids.empty()) {
          std::vector<std::optional<std::string>> arr(ids.begin(), ids.end());
          tx.exec("reaper_enqueue_on_error", detail::pg_text_array(arr));
        }
        return ids;
      });
}

caf::expected<std::vector<std::string>> maintenance_store::release_stale_claims(
    std::chrono::milliseconds age) {
  return session_.transact_value<std::vector<std::string>>(
      retry_policy::once,
      [&](tx_context& tx) -> caf::expected<std::vector<std::string>> {
        std::vector<std::string> ids;
        for (const auto& row : tx.exec("reaper_release_claims", ms(age)))
          ids.emplace_back(row[0].c_str());
        return ids;
      },
      tx_kind::single_statement);
}

namespace {

caf::expected<int64_t> delete_older(pg_session& s, const char* query,
                                    std::chrono::milliseconds age) {
  return s.transact_value<int64_t>(
      retry_policy::once,
      [&](tx_context& tx) -> caf::expected<int64_t> {
        return static_cast<int64_t>(tx.exec(query, ms(age)).affected_rows());
      },
      tx_kind::single_statement);
}

}  // namespace

caf::expected<int64_t> maintenance_store::prune_tombstones(std::chrono::milliseconds age) {
  return delete_older(session_, "reaper_prune_tombstones", age);
}

caf::expected<int64_t> maintenance_store::prune_delivered_outbox(std::chrono::milliseconds age) {
  return delete_older(session_, "reaper_prune_outbox", age);
}

caf::expected<int64_t> maintenance_store::prune_dead_letters(std::chrono::milliseconds age) {
  return delete_older(session_, "reaper_prune_dead_letters", age);
}

caf::expected<int64_t> maintenance_store::prune_replies(std::chrono::milliseconds age) {
  return delete_older(session_, "reaper_prune_replies", age);
}

}  // namespace postbox

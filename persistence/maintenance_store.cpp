// SQL calls of the reaper.
#include "persistence/maintenance_store.hpp"

#include "persistence/claims_store.hpp"
#include "persistence/detail/terminal.hpp"
#include "persistence/detail/tx_context.hpp"
#include "persistence/handled_commit.hpp"

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
        // Candidates first, unlocked; then each one's fence before its row, in the
        // order postbox.cancel and the callback take them. The fence is only tried: an
        // execution whose fence someone holds (a cancel, an ack, a batch recording) is
        // busy, so not stranded now, and the sweep never waits on it, so it can neither
        // deadlock with that transaction nor with another sweep, nor outlive its lease.
        std::vector<std::string> candidates;
        for (const auto& row :
             tx.exec("reaper_find_stranded", ms(stuck_after), limit, std::optional<std::string>{}))
          candidates.emplace_back(row[0].c_str());
        std::vector<std::string> ids;
        for (const auto& id : candidates) {
          auto got = tx.exec("executions_try_fence", id);
          if (got.empty() || got[0][0].c_str() != std::string("t")) continue;
          // Still stranded, read again under the fence (a new statement, a new snapshot).
          if (tx.exec("reaper_find_stranded", ms(stuck_after), 1, id).empty()) continue;
          if (tx.exec("reaper_fail_stranded", id, ms(stuck_after)).empty()) continue;
          if (auto err = detail::record_terminal(tx, id)) return err;
          if (auto err = claims_store::tombstone(tx, id, "reaper")) return err;
          ids.push_back(id);
        }
        if (!ids.empty()) {
          std::vector<std::optional<std::string>> arr(ids.begin(), ids.end());
          tx.exec("reaper_enqueue_on_error", detail::pg_text_array(arr));
        }
        return ids;
      });
}

caf::expected<int> maintenance_store::arrive_lost_members(std::chrono::milliseconds quiet,
                                                          int limit) {
  struct lost {
    group_member member;
    child_outcome outcome;
  };
  auto found = session_.transact_value<std::vector<lost>>(
      retry_policy::once, [&](tx_context& tx) -> caf::expected<std::vector<lost>> {
        std::vector<lost> out;
        for (const auto& row : tx.exec("reaper_find_lost_members", ms(quiet), limit)) {
          lost l;
          l.member = {row[0].c_str(), row[1].as<int32_t>()};
          l.outcome.ok = false;
          l.outcome.message_id = row[2].as<int64_t>();
          l.outcome.error = row[3].c_str();
          out.push_back(std::move(l));
        }
        return out;
      });  // read-write: it marks the groups it examined (swept_at)
  if (!found) return found.error();
  int arrived = 0;
  for (const auto& l : *found) {
    // The arrival is fenced by the message id the group holds at that index and counts
    // once: a real arrival that committed meanwhile makes this one a no-op.
    auto a = session_.transact_value<bool>(retry_policy::once,
                                           [&](tx_context& tx) -> caf::expected<bool> {
                                             auto r = arrive_and_fire(tx, l.member, l.outcome);
                                             if (!r) return r.error();
                                             return r->counted;
                                           });
    if (!a) {
      // A group pruned or re-armed meanwhile: that member is done with; the rest go on.
      if (is(a.error(), errc::not_found) || is(a.error(), errc::invalid_argument)) continue;
      return a.error();
    }
    if (*a) ++arrived;
  }
  return arrived;
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

caf::expected<int64_t> maintenance_store::delete_step(const char* query,
                                                      const std::vector<std::string>& args,
                                                      prune_tally& into) {
  auto n = session_.transact_value<int64_t>(
      retry_policy::once,
      [&](tx_context& tx) -> caf::expected<int64_t> {
        pqxx::result r;
        if (args.size() == 1)
          r = tx.exec(query, args[0], batch_);
        else
          r = tx.exec(query, args[0], args[1], batch_);
        return static_cast<int64_t>(r.affected_rows());
      },
      tx_kind::single_statement);
  if (!n) return n.error();
  into.rows += *n;
  into.statements += 1;
  into.max_rows_per_statement = std::max(into.max_rows_per_statement, *n);
  return *n;
}

caf::error maintenance_store::delete_all(const char* query, const std::vector<std::string>& args,
                                         prune_tally& into) {
  for (int i = 0; i < budget_; ++i) {
    auto n = delete_step(query, args, into);
    if (!n) return n.error();
    if (*n < batch_) return {};
  }
  return {};
}

caf::error maintenance_store::prune_tombstones(std::chrono::milliseconds age, prune_tally& into) {
  return delete_all("reaper_prune_tombstones", {std::to_string(ms(age))}, into);
}

caf::error maintenance_store::prune_delivered_outbox(std::chrono::milliseconds age,
                                                     prune_tally& into) {
  return delete_all("reaper_prune_outbox", {std::to_string(ms(age))}, into);
}

caf::error maintenance_store::prune_dead_letters(std::chrono::milliseconds age, prune_tally& into) {
  return delete_all("reaper_prune_dead_letters", {std::to_string(ms(age))}, into);
}

caf::error maintenance_store::prune_dedup_keys(prune_tally& into) {
  return delete_all("reaper_prune_dedup_keys", {"0"}, into);
}

caf::error maintenance_store::age_priorities(std::chrono::milliseconds after, prune_tally& into) {
  return delete_all("reaper_age_priorities", {std::to_string(ms(after))}, into);
}

caf::error maintenance_store::prune_replies(std::chrono::milliseconds age, prune_tally& into) {
  return delete_all("reaper_prune_replies", {std::to_string(ms(age))}, into);
}

namespace {

/// At most `limit` ids from a one-column pick query with (age ms[, statuses]).
caf::expected<std::vector<std::string>> pick(pg_session& s, const char* query,
                                             const std::vector<std::string>& statuses,
                                             std::chrono::milliseconds age, int limit) {
  return s.transact_value<std::vector<std::string>>(
      retry_policy::once,
      [&](tx_context& tx) -> caf::expected<std::vector<std::string>> {
        pqxx::result r =
            statuses.empty()
                ? tx.exec(query, ms(age), limit)
                : tx.exec(query, detail::pg_text_array({statuses.begin(), statuses.end()}), ms(age),
                          limit);
        std::vector<std::string> ids;
        for (const auto& row : r) ids.push_back(row[0].c_str());
        return ids;
      },
      tx_kind::read_only);
}

}  // namespace

caf::error maintenance_store::prune_executions(const std::vector<std::string>& statuses,
                                               std::chrono::milliseconds age, prune_tally& into) {
  // A hundred executions at a time: their rows go in bounded statements, children
  // first, the executions last, so a sweep cut short finds what is left next time.
  for (int round = 0; into.statements < budget_; ++round) {
    auto ids = pick(session_, "retention_pick_executions", statuses, age, 100);
    if (!ids) return ids.error();
    if (ids->empty()) return {};
    const std::string executions = detail::pg_text_array({ids->begin(), ids->end()});
    if (auto err = delete_all("retention_delete_file_results", {executions}, into)) return err;
    if (auto err = delete_all("retention_delete_blobs", {executions}, into)) return err;
    if (auto err = delete_all("retention_delete_arrivals", {"{}", executions}, into)) return err;
    auto owners = session_.transact_value<std::pair<int64_t, int64_t>>(
        retry_policy::once,
        [&](tx_context& tx) -> caf::expected<std::pair<int64_t, int64_t>> {
          auto r = tx.exec("retention_delete_owners", std::string("{}"), executions);
          return std::make_pair(r[0][0].as<int64_t>(), r[0][1].as<int64_t>());
        },
        tx_kind::single_statement);
    if (!owners) return owners.error();
    into.statements += 1;
    into.groups += owners->first;
    into.executions += owners->second;
    into.rows += owners->first + owners->second;
    if (owners->second == 0) return {};  // nothing could go (e.g. rows of a concurrent sweep)
  }
  return {};
}

caf::error maintenance_store::prune_groups(std::chrono::milliseconds age, prune_tally& into) {
  for (int round = 0; into.statements < budget_; ++round) {
    auto ids = pick(session_, "retention_pick_groups", {}, age, 100);
    if (!ids) return ids.error();
    if (ids->empty()) return {};
    const std::string groups = detail::pg_text_array({ids->begin(), ids->end()});
    if (auto err = delete_all("retention_delete_arrivals", {groups, "{}"}, into)) return err;
    auto n = session_.transact_value<int64_t>(
        retry_policy::once,
        [&](tx_context& tx) -> caf::expected<int64_t> {
          auto r = tx.exec("retention_delete_owners", groups, std::string("{}"));
          return r[0][0].as<int64_t>();
        },
        tx_kind::single_statement);
    if (!n) return n.error();
    into.statements += 1;
    into.groups += *n;
    into.rows += *n;
    if (*n == 0) return {};
  }
  return {};
}

}  // namespace postbox

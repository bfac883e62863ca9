// Group commit: several deliveries' successes in one transaction, each in a savepoint.
#include <algorithm>
#include <numeric>
#include <optional>
#include <tuple>

#include "persistence/detail/tx_context.hpp"
#include "persistence/handled_commit.hpp"

namespace postbox {

namespace {

/// Where the group's bodies take their locks in the same order on every node: the
/// execution's fence first, then its group's barrier, then the message.
std::vector<size_t> lock_order(const std::vector<const success_commit*>& cs) {
  std::vector<size_t> order(cs.size());
  std::iota(order.begin(), order.end(), size_t{0});
  auto key = [&](size_t i) {
    const auto& c = *cs[i];
    const std::string& group = c.arrive
                                   ? c.arrive->group_id
                                   : (c.arrive_place ? c.arrive_place->group_id : c.execution_id);
    return std::tie(c.execution_id, group, c.delivery.message_id);
  };
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) { return key(a) < key(b); });
  return order;
}

/// A conflict with another transaction (deadlock, serialization): redone alone.
bool redo_alone(const caf::expected<success_outcome>& r) {
  return !r && is(r.error(), errc::serialization_failure);
}

}  // namespace

std::vector<caf::expected<success_outcome>> commit_successes(
    pg_session& session, const std::vector<const success_commit*>& cs) {
  std::vector<caf::expected<success_outcome>> answers;
  answers.reserve(cs.size());
  if (cs.size() == 1) {
    answers.push_back(commit_success(session, *cs[0]));
    return answers;
  }
  const auto order = lock_order(cs);
  // Each delivery's answer in the transaction's last run.
  std::vector<std::optional<caf::expected<success_outcome>>> own(cs.size());
  auto err = session.transact(retry_policy::once, [&](tx_context& tx) -> caf::error {
    for (auto& o : own) o.reset();
    for (size_t i : order) {
      std::optional<success_outcome> out;
      auto failed = tx.savepoint([&](tx_context& sub) -> caf::error {
        auto r = commit_success_in(sub, *cs[i]);
        if (!r) return r.error();
        out = std::move(*r);
        return {};
      });
      if (failed)
        own[i] = std::move(failed);
      else
        own[i] = std::move(*out);
    }
    return {};
  });
  for (size_t i = 0; i < cs.size(); ++i) {
    // The COMMIT failed: nothing of the group happened. A delivery that failed on its
    // own keeps its own error (it would have failed alone too).
    if (err && (!own[i] || *own[i] || redo_alone(*own[i])))
      answers.emplace_back(err);
    else
      answers.push_back(std::move(*own[i]));
  }
  if (!err)
    for (size_t i : order)
      if (redo_alone(answers[i])) answers[i] = commit_success(session, *cs[i]);
  return answers;
}

}  // namespace postbox

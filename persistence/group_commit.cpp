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

namespace {

/// The group without savepoints: every body in one transaction, committed only when
/// all succeeded. True when it committed (`answers` filled); false when a body failed
/// (everything rolled back, nothing answered) or when the transaction failed after the
/// bodies, at COMMIT or on a lost connection (`commit_error` set).
bool commit_optimistically(pg_session& session, const std::vector<const success_commit*>& cs,
                           const std::vector<size_t>& order,
                           std::vector<caf::expected<success_outcome>>& answers,
                           caf::error& commit_error) {
  std::vector<std::optional<success_outcome>> outs(cs.size());
  bool bodies_done = false;
  auto err = session.transact(retry_policy::once, [&](tx_context& tx) -> caf::error {
    bodies_done = false;
    for (size_t i : order) {
      auto r = commit_success_in(tx, *cs[i]);
      if (!r) return r.error();  // some body failed: settled with savepoints
      outs[i] = std::move(*r);
    }
    bodies_done = true;
    return {};
  });
  if (!err) {
    for (auto& o : outs) answers.emplace_back(std::move(*o));
    return true;
  }
  if (bodies_done || is(err, errc::connection_lost)) commit_error = err;
  return false;
}

/// The group with a savepoint per delivery: each delivery's own answer.
std::vector<caf::expected<success_outcome>> commit_with_savepoints(
    pg_session& session, const std::vector<const success_commit*>& cs,
    const std::vector<size_t>& order) {
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
  std::vector<caf::expected<success_outcome>> answers;
  answers.reserve(cs.size());
  for (size_t i = 0; i < cs.size(); ++i) {
    // The COMMIT failed: nothing of the group happened. A delivery that failed on its
    // own keeps its own error (it would have failed alone too).
    if (err && (!own[i] || *own[i] || redo_alone(*own[i])))
      answers.emplace_back(err);
    else
      answers.push_back(std::move(*own[i]));
  }
  return answers;
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
  // Deliveries rarely fail: first without savepoints (two round trips fewer each). When
  // one does, the group is rolled back and run again with a savepoint per delivery.
  caf::error commit_error;
  if (commit_optimistically(session, cs, order, answers, commit_error)) return answers;
  if (commit_error) {
    // Nothing of the group happened; a conflict is redone alone, as a failed body is.
    for (size_t i = 0; i < cs.size(); ++i) answers.emplace_back(commit_error);
  } else {
    answers = commit_with_savepoints(session, cs, order);
  }
  if (!commit_error || is(commit_error, errc::serialization_failure))
    for (size_t i : order)
      if (redo_alone(answers[i])) answers[i] = commit_success(session, *cs[i]);
  return answers;
}

}  // namespace postbox

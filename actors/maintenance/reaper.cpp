// One reaper sweep.
#include "actors/maintenance/reaper.hpp"

#include <algorithm>

namespace postbox {

namespace {
constexpr const char* lease_name = "reaper";
}

reaper::reaper(pg_session& session, reaper_settings settings, std::string holder)
    : store_(session, settings.prune_batch, settings.prune_budget),
      actors_(session),
      settings_(settings),
      holder_(std::move(holder)) {}

caf::expected<reaper_counts> reaper::run_once() {
  reaper_counts c;
  auto term = store_.acquire_leadership(lease_name, holder_, settings_.lease_ttl());
  if (!term) return term.error();
  c.term = *term;
  c.leader = *term > 0;
  if (!c.leader) return c;
  auto failed = store_.fail_stranded(settings_.stuck_after, settings_.batch);
  if (!failed) return failed.error();
  c.stranded_failed = static_cast<int>(failed->size());
  // After the stranded sweep: a group of an execution it just failed is open to it now.
  auto arrived = store_.arrive_lost_members(settings_.stuck_after, settings_.batch * 10);
  if (!arrived) return arrived.error();
  c.members_arrived = *arrived;
  auto released = store_.release_stale_claims(settings_.stuck_after);
  if (!released) return released.error();
  c.claims_released = static_cast<int>(released->size());
  // Each prune deletes in bounded statements; the tally of each kind is kept apart so
  // the sweep can report it, and summed for the whole sweep.
  auto step = [&](auto&& prune, int64_t& count) -> caf::error {
    prune_tally t;
    auto err = prune(t);
    count = t.rows;
    c.rows_pruned += t.rows;
    c.prune_statements += t.statements;
    c.max_rows_per_statement = std::max(c.max_rows_per_statement, t.max_rows_per_statement);
    c.groups_pruned += t.groups;
    c.executions_pruned += t.executions;
    return err;
  };
  int64_t ignored = 0;
  // Aging first: a sweep that stops on a prune's error has moved the waiters up.
  if (settings_.aging_after.count() > 0) {
    prune_tally t;
    if (auto err = store_.age_priorities(settings_.aging_after, t)) return err;
    c.priorities_aged = t.rows;
  }
  if (auto err = step(
          [&](prune_tally& t) { return store_.prune_tombstones(settings_.tombstone_retention, t); },
          c.tombstones_pruned))
    return err;
  if (auto err = step(
          [&](prune_tally& t) {
            return store_.prune_delivered_outbox(settings_.outbox_retention, t);
          },
          c.outbox_pruned))
    return err;
  if (auto err = step(
          [&](prune_tally& t) {
            return store_.prune_dead_letters(settings_.dead_letter_retention, t);
          },
          c.dead_letters_pruned))
    return err;
  if (auto err =
          step([&](prune_tally& t) { return store_.prune_replies(settings_.reply_retention, t); },
               c.replies_pruned))
    return err;
  if (auto err =
          step([&](prune_tally& t) { return store_.prune_dedup_keys(t); }, c.dedup_keys_pruned))
    return err;
  if (auto err = step(
          [&](prune_tally& t) {
            return store_.prune_executions({"COMPLETED"}, settings_.completed_retention, t);
          },
          ignored))
    return err;
  if (auto err = step(
          [&](prune_tally& t) {
            return store_.prune_executions({"ERROR", "STOPPED"}, settings_.failed_retention, t);
          },
          ignored))
    return err;
  if (auto err = step(
          [&](prune_tally& t) { return store_.prune_groups(settings_.completed_retention, t); },
          ignored))
    return err;
  // Idle keyed actors, in statements of prune_batch, at most prune_budget of them.
  for (int i = 0; settings_.idle_actor_retention.count() > 0 && i < settings_.prune_budget; ++i) {
    auto gone = actors_.retire_idle(settings_.idle_actor_retention, settings_.prune_batch);
    if (!gone) return gone.error();
    c.actors_retired += *gone;
    c.rows_pruned += *gone;
    c.prune_statements += 1;
    c.max_rows_per_statement = std::max<int64_t>(c.max_rows_per_statement, *gone);
    if (*gone < settings_.prune_batch) break;
  }
  return c;
}

void reaper::resign() {
  (void)store_.resign_leadership(lease_name, holder_);
}

}  // namespace postbox

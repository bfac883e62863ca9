// One reaper sweep.
#include "actors/maintenance/reaper.hpp"

namespace postbox {

namespace {
constexpr const char* lease_name = "reaper";
}

reaper::reaper(pg_session& session, reaper_settings settings, std::string holder)
    : store_(session), settings_(settings), holder_(std::move(holder)) {}

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
  auto released = store_.release_stale_claims(settings_.stuck_after);
  if (!released) return released.error();
  c.claims_released = static_cast<int>(released->size());
  auto tombs = store_.prune_tombstones(settings_.tombstone_retention);
  if (!tombs) return tombs.error();
  c.tombstones_pruned = *tombs;
  auto outbox = store_.prune_delivered_outbox(settings_.outbox_retention);
  if (!outbox) return outbox.error();
  c.outbox_pruned = *outbox;
  auto dead = store_.prune_dead_letters(settings_.dead_letter_retention);
  if (!dead) return dead.error();
  c.dead_letters_pruned = *dead;
  auto replies = store_.prune_replies(settings_.reply_retention);
  if (!replies) return replies.error();
  c.replies_pruned = *replies;
  return c;
}

void reaper::resign() {
  (void)store_.resign_leadership(lease_name, holder_);
}

}  // namespace postbox

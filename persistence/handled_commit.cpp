// A runtime handler's success, committed in one transaction.
#include "persistence/handled_commit.hpp"

#include <algorithm>
#include <boost/json.hpp>

#include "persistence/actor_store.hpp"
#include "persistence/detail/tx_context.hpp"

namespace postbox {

caf::expected<arrival> arrive_and_fire(tx_context& tx, const group_member& member,
                                       const child_outcome& outcome) {
  auto a = barrier_store::arrive(tx, member.group_id, member.index, outcome);
  if (!a) return a.error();
  if (a->fired && a->has_callback) {
    std::optional<barrier_store::handover> place;
    auto callback = barrier_store::fired_callback(tx, member.group_id, place);
    if (!callback) return callback.error();
    auto id = mailbox_store::send(tx, *callback);
    if (!id) return id.error();
    tx.exec("barrier_fired_by", member.group_id, *id);
    if (place)
      if (auto err = barrier_store::hand_over(tx, *place, *id)) return err;
  }
  return a;
}

namespace {

bool any_dedup_key(const std::vector<outgoing_message>& msgs) {
  return std::any_of(msgs.begin(), msgs.end(),
                     [](const outgoing_message& m) { return !m.dedup_key.empty(); });
}

/// A fan_out whose children carry dedup keys: the children in input order, each a new
/// message or a duplicate. A duplicate child is not sent, so it arrives at once, as an
/// error naming the live message that holds its key (guarantee 9: every member arrives).
caf::error arm_with_duplicates(tx_context& tx, group_spec spec,
                               const std::vector<outgoing_message>& children, int64_t& duplicates) {
  auto sent = mailbox_store::send_batch_unique(tx, children);
  if (!sent) return sent.error();
  spec.child_ids.clear();
  for (const auto& s : *sent) spec.child_ids.push_back(s.id);
  if (auto err = barrier_store::arm(tx, spec)) return err;
  for (size_t i = 0; i < sent->size(); ++i) {
    if (!(*sent)[i].duplicate) continue;
    ++duplicates;
    child_outcome dup;
    dup.ok = false;
    dup.message_id = (*sent)[i].id;
    dup.error = "duplicate: dedup key '" + children[i].dedup_key + "' is held by live message " +
                std::to_string((*sent)[i].id) + " (this child was not sent)";
    auto a = arrive_and_fire(tx, group_member{spec.group_id, static_cast<int32_t>(i)}, dup);
    if (!a) return a.error();
  }
  return {};
}

/// What a handler's success writes besides the ack and its arrival. `duplicates`: sends
/// that a live message's dedup key refused (nothing enqueued; never an error).
caf::error commit_effects(tx_context& tx, const success_commit& c, int64_t& duplicates) {
  for (const auto& s : c.statements)
    if (auto err = run_statement(tx, s)) return err;
  if (!c.sends.empty()) {
    std::vector<int64_t> sent_ids;
    if (any_dedup_key(c.sends)) {
      auto sent = mailbox_store::send_batch_unique(tx, c.sends);
      if (!sent) return sent.error();
      for (const auto& s : *sent) {
        sent_ids.push_back(s.id);
        duplicates += s.duplicate ? 1 : 0;
      }
    } else {
      auto ids = mailbox_store::send_batch(tx, c.sends);
      if (!ids) return ids.error();
      sent_ids = std::move(*ids);
      std::sort(sent_ids.begin(), sent_ids.end());  // one sequence, insertion order
    }
    if (c.hand_over_to_send >= 0 && c.arrive_place) {
      // In input order (the dedup path answers in it; the plain one is sorted above).
      const std::vector<int64_t>& sorted = sent_ids;
      barrier_store::handover h{c.arrive_place->group_id, c.arrive_place->index,
                                c.delivery.message_id};
      if (auto err = barrier_store::hand_over(tx, h, sorted.at(c.hand_over_to_send))) return err;
    }
  }
  for (const auto& g : c.groups) {
    if (any_dedup_key(g.children)) {
      if (auto err = arm_with_duplicates(tx, g.spec, g.children, duplicates)) return err;
      continue;
    }
    // Children first: their ids are the only messages that may arrive.
    auto ids = mailbox_store::send_batch(tx, g.children);
    if (!ids) return ids.error();
    group_spec spec = g.spec;
    spec.child_ids = *ids;
    // Ids come from one sequence in insertion (child) order.
    std::sort(spec.child_ids.begin(), spec.child_ids.end());
    if (auto err = barrier_store::arm(tx, spec)) return err;
  }
  if (!c.reply_key.empty())
    tx.exec("replies_put", c.reply_key, c.delivery.message_id, c.reply_json);
  if (c.on_success) {
    auto sent = mailbox_store::send_unique(tx, *c.on_success);
    if (!sent) return sent.error();
    duplicates += sent->duplicate ? 1 : 0;
  }
  return {};
}

}  // namespace

caf::expected<success_outcome> commit_success_in(tx_context& tx, const success_commit& c) {
  // Guarantee 9: the ack of a delivery of an execution takes the execution's fence
  // in the same statement, before anything else of the handler runs, and reads the
  // status after it was granted. A cancel either committed first (STOPPED: only the
  // ack and the arrival below commit) or waits for this transaction. The fence
  // comes before the execution's row, as everywhere (cancel, poison, the sweep), so
  // nothing waits crosswise; a step that needs it exclusive (the callback's CAS to
  // COMPLETED) says so and gets it here, never as an upgrade of a shared one.
  bool stopped = false;
  if (c.execution_id.empty()) {
    if (auto err = mailbox_store::ack(tx, c.delivery)) return err;
  } else {
    auto st = mailbox_store::ack_stopped(tx, c.delivery, c.execution_id,
                                         c.fence == execution_fence::exclusive);
    if (!st) return st.error();
    stopped = *st;
  }
  success_outcome out;
  std::string arrival_error;  // set: this message arrives as failed
  if (stopped) {
    out.effects = false;
    out.note = "execution stopped (cancelled): ack only";
    arrival_error = "cancelled";
  }
  for (size_t i = 0; !stopped && i < c.in_ack.size(); ++i) {
    sql_tx stx(tx);
    auto go = c.in_ack[i](stx);
    // A failed statement aborted the transaction on the server: never commit
    // after it, whatever the step made of the error.
    if (auto failed = stx.failure()) std::rethrow_exception(failed);
    if (!go) return go.error();
    if (!stx.note().empty()) out.note = stx.note();
    if (!*go) {
      out.effects = false;
      arrival_error = stx.arrival_error();
      break;
    }
  }
  if (out.effects) {
    if (c.actor_state) {
      auto v = actor_store::put_state(tx, *c.actor_state);
      if (!v) return v.error();
      out.actor_version = *v;
    }
    // Before the sends: the lock order of fire_due (reminder rows, then the
    // key's actor_seqs) holds for a turn that reminds and sends to itself.
    if (!c.reminders.empty())
      if (auto err = reminder_store::apply(tx, c.reminders)) return err;
    if (auto err = commit_effects(tx, c, out.duplicates)) return err;
  }
  // Every member of a group arrives exactly once, however it ended (guarantee 9): a
  // message of a cancelled execution as {status: error, error: "cancelled"}, a
  // declined step as {declined: note} (or as the error it named), where it would
  // have handed its place on, too.
  std::optional<group_member> where = c.arrive;
  if (!out.effects && !where) where = c.arrive_place;
  if (where) {
    child_outcome o;
    o.result_json = c.result_json;
    if (!arrival_error.empty()) {
      o.ok = false;
      o.error = arrival_error;
    } else if (!out.effects) {
      boost::json::object declined{{"declined", out.note.empty() ? "declined" : out.note}};
      o.result_json = boost::json::serialize(declined);
    }
    o.message_id = c.delivery.message_id;
    auto a = arrive_and_fire(tx, *where, o);
    if (!a) return a.error();
    out.group_fired = a->fired;
  }
  if (c.before_commit) c.before_commit();
  return out;
}

caf::expected<success_outcome> commit_success(pg_session& session, const success_commit& c) {
  return session.transact_value<success_outcome>(
      retry_policy::once,
      [&](tx_context& tx) -> caf::expected<success_outcome> { return commit_success_in(tx, c); });
}

}  // namespace postbox

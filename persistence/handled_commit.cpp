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

/// What a handler's success writes besides the ack and its arrival.
caf::error commit_effects(tx_context& tx, const success_commit& c) {
  for (const auto& s : c.statements)
    if (auto err = run_statement(tx, s)) return err;
  if (!c.sends.empty()) {
    auto ids = mailbox_store::send_batch(tx, c.sends);
    if (!ids) return ids.error();
    if (c.hand_over_to_send >= 0 && c.arrive_place) {
      std::vector<int64_t> sorted = *ids;  // one sequence, insertion order
      std::sort(sorted.begin(), sorted.end());
      barrier_store::handover h{c.arrive_place->group_id, c.arrive_place->index,
                                c.delivery.message_id};
      if (auto err = barrier_store::hand_over(tx, h, sorted.at(c.hand_over_to_send))) return err;
    }
  }
  for (const auto& g : c.groups) {
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
    auto id = mailbox_store::send(tx, *c.on_success);
    if (!id) return id.error();
  }
  return {};
}

}  // namespace

caf::expected<success_outcome> commit_success(pg_session& session, const success_commit& c) {
  return session.transact_value<success_outcome>(
      retry_policy::once, [&](tx_context& tx) -> caf::expected<success_outcome> {
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
          if (auto err = commit_effects(tx, c)) return err;
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
      });
}

}  // namespace postbox

// A runtime handler's success, committed in one transaction.
#include "persistence/handled_commit.hpp"

#include <algorithm>
#include <boost/json.hpp>

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
        // The ack also looks at the execution's status (no round trip of its own).
        bool stopped_at_ack = false;
        if (c.execution_id.empty()) {
          if (auto err = mailbox_store::ack(tx, c.delivery)) return err;
        } else {
          auto st = mailbox_store::ack_stopped(tx, c.delivery, c.execution_id);
          if (!st) return st.error();
          stopped_at_ack = *st;
        }
        success_outcome out;
        auto ack_only = [&] {
          out.effects = false;
          out.note = "execution stopped (cancelled): ack only";
          if (c.before_commit) c.before_commit();
          return out;
        };
        // Steps of a cancelled execution do not run at all (a step's own writes would
        // commit with the ack); the fenced check below covers a cancel committing
        // meanwhile for everything but what a step wrote without taking the fence.
        if (stopped_at_ack && !c.in_ack.empty()) return ack_only();
        for (const auto& step : c.in_ack) {
          sql_tx stx(tx);
          auto go = step(stx);
          // A failed statement aborted the transaction on the server: never commit
          // after it, whatever the step made of the error.
          if (auto failed = stx.failure()) std::rethrow_exception(failed);
          if (!go) return go.error();
          if (!stx.note().empty()) out.note = stx.note();
          if (!*go) {
            out.effects = false;
            break;
          }
        }
        // Guarantee 9: a cancelled execution takes no effect of a delivery, not even its
        // arrival (a cancel that waits for this transaction counts what it records).
        // The fence shared first, then the status read after it was granted (one call,
        // migration 015); after the in_ack steps, which take the fence themselves before
        // they lock the execution's row (callback, orchestration): the fence always
        // comes before the row, so a cancel and a step never wait on each other
        // crosswise.
        if (!c.execution_id.empty()) {
          auto r = tx.exec("executions_fence_shared_stopped", c.execution_id);
          if (!r.empty() && r[0][0].c_str() == std::string("t")) return ack_only();
        }
        if (out.effects)
          if (auto err = commit_effects(tx, c)) return err;
        // A declined step did none of the work: the message arrives (where it would
        // have handed its place on, too) with {"declined": note} as its result.
        std::optional<group_member> where = c.arrive;
        if (!out.effects && !where) where = c.arrive_place;
        if (where) {
          child_outcome o;
          o.result_json = c.result_json;
          if (!out.effects) {
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

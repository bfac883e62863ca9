// Multi-store transactions.
#include "persistence/units_of_work.hpp"

#include "messages/utf8.hpp"
#include "persistence/claims_store.hpp"
#include "persistence/detail/terminal.hpp"
#include "persistence/detail/tx_context.hpp"
#include "persistence/execution_store.hpp"
#include "persistence/file_results_store.hpp"

namespace postbox {

caf::expected<batch_completion> complete_batch(pg_session& session, const lease& batch,
                                               const std::string& execution_id, int32_t batch_index,
                                               const outgoing_message& callback) {
  return session.transact_value<batch_completion>(
      retry_policy::once, [&](tx_context& tx) -> caf::expected<batch_completion> {
        if (auto err = mailbox_store::ack(tx, batch)) return err;
        auto a = barrier_store::arrive(tx, execution_id, batch_index);
        if (!a) return a.error();
        batch_completion out;
        out.barrier = *a;
        if (a->fired) {
          auto id = mailbox_store::send(tx, callback);
          if (!id) return id.error();
          out.callback_message_id = *id;
        }
        return out;
      });
}

const char* to_string(start_outcome x) {
  switch (x) {
    case start_outcome::started:
      return "started";
    case start_outcome::claim_held:
      return "claim_held";
    case start_outcome::tombstoned:
      return "tombstoned";
    case start_outcome::already_terminal:
      return "already_terminal";
    case start_outcome::not_queued:
      return "not_queued";
  }
  return "unknown";
}

const char* to_string(finish_outcome x) {
  switch (x) {
    case finish_outcome::completed:
      return "completed";
    case finish_outcome::already_completed:
      return "already_completed";
    case finish_outcome::not_executing:
      return "not_executing";
    case finish_outcome::barrier_not_fired:
      return "barrier_not_fired";
  }
  return "unknown";
}

namespace detail {

caf::error record_terminal(tx_context& tx, const std::string& execution_id) {
  auto counts = file_results_store::counts(tx, execution_id);
  if (!counts) return counts.error();
  if (auto err = execution_store::set_counts(tx, execution_id, counts->done, counts->failed))
    return err;
  tx.exec("outbox_enqueue_terminal", execution_id);
  return {};
}

}  // namespace detail

caf::expected<start_outcome> start_execution(pg_session& session, const start_request& req) {
  return session.transact_value<start_outcome>(
      retry_policy::once, [&](tx_context& tx) -> caf::expected<start_outcome> {
        if (auto err = mailbox_store::ack(tx, req.delivery)) return err;
        auto claim = claims_store::try_claim(tx, req.execution_id, req.owner, req.delivery);
        if (!claim) return claim.error();
        if (*claim == claim_outcome::held) return start_outcome::claim_held;
        if (*claim == claim_outcome::tombstoned) return start_outcome::tombstoned;
        if (req.after_claim) req.after_claim();
        auto created = execution_store::create(
            tx, {req.execution_id, req.org, req.workflow, req.batch_size, req.files_total},
            req.headers);
        if (!created) return created.error();
        auto exec = execution_store::get(tx, req.execution_id);
        if (!exec) return exec.error();
        if (is_terminal(exec->status)) {
          if (auto err = claims_store::tombstone(tx, req.execution_id, req.owner)) return err;
          return start_outcome::already_terminal;
        }
        auto moved = execution_store::transition(tx, req.execution_id, {execution_status::queued},
                                                 execution_status::executing);
        if (!moved) return moved.error();
        if (!*moved) return start_outcome::not_queued;
        if (req.batches.empty())
          return make_error(errc::invalid_argument,
                            "execution " + req.execution_id + " has no files to process");
        if (auto err =
                barrier_store::arm(tx, req.execution_id, static_cast<int32_t>(req.batches.size())))
          return err;
        auto ids = mailbox_store::send_batch(tx, req.batches);
        if (!ids) return ids.error();
        return start_outcome::started;
      });
}

caf::expected<finish_result> finish_execution(pg_session& session, const lease& delivery,
                                              const std::string& execution_id,
                                              const std::optional<outgoing_message>& on_success,
                                              const std::string& message_label) {
  return session.transact_value<finish_result>(
      retry_policy::once, [&](tx_context& tx) -> caf::expected<finish_result> {
        // Guarantee 9: COMPLETED only after every batch arrived. The lock keeps the
        // answer true until commit (a racing last arrival waits for us, then fires).
        auto barrier = barrier_store::lock(tx, execution_id);
        if (!barrier && !is(barrier.error(), errc::not_found)) return barrier.error();
        if (!barrier || !barrier->fired) {
          finish_result out;
          out.outcome = finish_outcome::barrier_not_fired;
          out.dead_letter_reason = utf8_sanitize(
              message_label + ": execution_callback for execution '" + execution_id + "' " +
              (barrier ? "before its barrier fired (" + std::to_string(barrier->remaining) +
                             " of " + std::to_string(barrier->expected) + " batches still expected)"
                       : "with no barrier armed (the execution never started its batches)") +
              ": a stray callback completes nothing");
          auto dl = mailbox_store::dead_letter(tx, delivery, out.dead_letter_reason);
          if (!dl) return dl.error();
          return out;
        }
        if (auto err = mailbox_store::ack(tx, delivery)) return err;
        auto moved = execution_store::transition(tx, execution_id, {execution_status::executing},
                                                 execution_status::completed);
        if (!moved) return moved.error();
        if (!*moved) {
          auto exec = execution_store::get(tx, execution_id);
          if (!exec) return exec.error();
          return finish_result{exec->status == execution_status::completed
                                   ? finish_outcome::already_completed
                                   : finish_outcome::not_executing,
                               {}};
        }
        if (auto err = detail::record_terminal(tx, execution_id)) return err;
        if (auto err = claims_store::tombstone(tx, execution_id, "callback")) return err;
        if (on_success) {
          auto id = mailbox_store::send(tx, *on_success);
          if (!id) return id.error();
        }
        return finish_result{finish_outcome::completed, {}};
      });
}

caf::expected<poison_outcome> poison_message(pg_session& session, const poison_request& req) {
  return session.transact_value<poison_outcome>(
      retry_policy::once, [&](tx_context& tx) -> caf::expected<poison_outcome> {
        poison_outcome out;
        auto dl = mailbox_store::dead_letter(tx, req.delivery, req.reason);
        if (!dl) return dl.error();
        out.dead_letter_id = *dl;
        bool send_on_error = req.execution_id.empty();
        if (!req.execution_id.empty()) {
          auto moved = execution_store::transition(
              tx, req.execution_id, {execution_status::queued, execution_status::executing},
              execution_status::error, req.reason);
          if (!moved) return moved.error();
          if (*moved) {
            out.execution_failed = true;
            send_on_error = true;
            if (auto err = detail::record_terminal(tx, req.execution_id)) return err;
            if (auto err = claims_store::tombstone(tx, req.execution_id, "poison")) return err;
          } else if (auto e = execution_store::get(tx, req.execution_id);
                     !e && is(e.error(), errc::not_found)) {
            // No execution row to fail (a message sent straight to the mailbox):
            // the caller still hears about it.
            send_on_error = true;
          } else if (!req.on_error_spec.empty()) {
            // A continuation of this message, not the execution's: its caller waits.
            auto same = tx.exec("executions_same_on_error", req.execution_id, req.on_error_spec);
            send_on_error = same.empty() || !same[0][0].as<bool>();
          }
        }
        if (req.arrive) {
          child_outcome o;
          o.ok = false;
          o.error = req.reason;
          o.message_id = req.delivery.message_id;
          auto a = arrive_and_fire(tx, *req.arrive, o);
          if (a)
            out.group_fired = a->fired;
          else if (!is(a.error(), errc::not_found) && !is(a.error(), errc::invalid_argument))
            return a.error();
        }
        if (send_on_error && req.on_error) {
          auto id = mailbox_store::send(tx, *req.on_error);
          if (!id) return id.error();
          out.on_error_sent = true;
        }
        return out;
      });
}

caf::error submit_execution(pg_session& session, const new_execution& execution,
                            const outgoing_message& orchestration) {
  return session.transact(retry_policy::never, [&](tx_context& tx) -> caf::error {
    auto created = execution_store::create(tx, execution, orchestration.headers);
    if (!created) return created.error();
    if (!*created)
      return make_error(errc::constraint_violation, "execution " + execution.id + " exists");
    auto id = mailbox_store::send(tx, orchestration);
    if (!id) return id.error();
    return {};
  });
}

}  // namespace postbox

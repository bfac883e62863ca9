// Multi-store transactions.
#include "persistence/units_of_work.hpp"

#include "messages/json_codec.hpp"
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

namespace detail {

caf::error record_terminal(tx_context& tx, const std::string& execution_id) {
  tx.exec("executions_fence", execution_id);  // every batch recording results has ended
  auto counts = file_results_store::counts(tx, execution_id);
  if (!counts) return counts.error();
  if (auto err = execution_store::set_counts(tx, execution_id, counts->done, counts->failed))
    return err;
  tx.exec("outbox_enqueue_terminal", execution_id);
  return {};
}

}  // namespace detail

namespace {

caf::expected<poison_outcome> poison_in(tx_context& tx, const poison_request& req) {
  poison_outcome out;
  auto dl = mailbox_store::dead_letter(tx, req.delivery, req.reason);
  if (!dl) return dl.error();
  out.dead_letter_id = *dl;
  // The message's own on_error goes unless it is its execution's (copied onto the
  // execution's batches, marked ends_execution): that one goes once per execution,
  // with the move that ends it. A copy from before the mark is compared as jsonb
  // (executions_on_error_is.sql: 5.0 and 5, another key order, the same value).
  bool send_on_error = true;
  if (!req.execution_id.empty()) {
    // The fence before the row, as postbox.cancel takes them (never crosswise).
    tx.exec("executions_fence", req.execution_id);
    auto moved = execution_store::transition(
        tx, req.execution_id, {execution_status::queued, execution_status::executing},
        execution_status::error, req.reason);
    if (!moved) return moved.error();
    bool executions_own = false;
    if (!req.on_error_spec.empty()) {
      auto mine = decode_continuation(req.on_error_spec);
      executions_own = mine && mine->ends_execution;
      if (!executions_own) {
        auto r = tx.exec("executions_on_error_is", req.execution_id, req.on_error_spec);
        executions_own = !r.empty() && r[0][0].c_str() == std::string("t");
      }
    }
    if (*moved) {
      out.execution_failed = true;
      if (auto err = detail::record_terminal(tx, req.execution_id)) return err;
      if (auto err = claims_store::tombstone(tx, req.execution_id, "poison")) return err;
      // The execution's on_error: this message's copy (it names the message), or
      // from the execution's row when this message did not carry it.
      if (!executions_own)
        tx.exec("reaper_enqueue_on_error", detail::pg_text_array({req.execution_id}));
    } else if (executions_own) {
      send_on_error = false;  // it went when the execution ended
    }
  }
  // A member of a group arrives, with the reason, whatever became of its execution
  // (a cancelled one too: every member arrives exactly once, guarantee 9).
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
    // The poison ended its execution (or found it ended): what the continuation
    // does is not part of it (guarantee 9).
    outgoing_message on_error = *req.on_error;
    on_error.execution_id.clear();
    auto id = mailbox_store::send(tx, on_error);
    if (!id) return id.error();
    out.on_error_sent = true;
  }
  return out;
}

}  // namespace

caf::expected<poison_outcome> poison_message(pg_session& session, const poison_request& req) {
  return session.transact_value<poison_outcome>(
      retry_policy::once,
      [&](tx_context& tx) -> caf::expected<poison_outcome> { return poison_in(tx, req); });
}

caf::expected<std::vector<poison_outcome>> poison_messages(
    pg_session& session, const std::vector<poison_request>& reqs) {
  return session.transact_value<std::vector<poison_outcome>>(
      retry_policy::once, [&](tx_context& tx) -> caf::expected<std::vector<poison_outcome>> {
        std::vector<poison_outcome> out;
        for (const auto& req : reqs) {
          auto one = poison_in(tx, req);
          if (!one) return one.error();
          out.push_back(*one);
        }
        return out;
      });
}

caf::error submit_execution(pg_session& session, const new_execution& execution,
                            const outgoing_message& orchestration, const blob_source* blobs) {
  return session.transact(retry_policy::never, [&](tx_context& tx) -> caf::error {
    if (blobs) {
      auto n = blob_store::put_all(tx, *blobs, execution.id);
      if (!n) return n.error();
    }
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

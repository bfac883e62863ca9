// Multi-store transactions.
#include "persistence/units_of_work.hpp"

#include "persistence/detail/tx_context.hpp"

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

}  // namespace postbox

// execution_callback: complete the execution once (status, counts, webhook and
// usage outbox rows, on_success), in the transaction that acks the callback.
// A callback whose barrier has not fired is stray: dead-lettered, nothing else.
#include "actors/pipeline/pipeline.hpp"
#include "actors/runtime/continuations.hpp"
#include "messages/json_codec.hpp"
#include "persistence/units_of_work.hpp"

namespace postbox {

handler_result handle_execution_callback(handler_context& ctx, const delivery& d) {
  auto msg = decode_execution_callback(d.payload);
  if (!msg) return poison(ctx, d, "undecodable execution_callback: " + describe(msg.error()));
  if (auto mismatch = execution_id_mismatch(d, msg->execution_id)) return poison(ctx, d, *mismatch);
  auto label = "message " + std::to_string(d.id) + " (" + d.type + " on " + d.queue + ")";
  auto r =
      finish_execution(ctx.session, d.to_lease(), msg->execution_id, on_success_message(d), label);
  if (!r) return store_failure(ctx, d, r.error());
  if (r->outcome == finish_outcome::barrier_not_fired)
    return {handled::dead_lettered, r->dead_letter_reason};
  return {handled::acked, std::string("callback ") + to_string(r->outcome)};
}

}  // namespace postbox

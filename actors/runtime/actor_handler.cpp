// A keyed actor's turn: the message must be addressed to an actor of the handler's
// type; its state is loaded (the node's cache when the claim saw the cached version,
// else one read), the user's call runs on it, and a changed state commits with the
// ack, fenced by the version it was loaded at (actor_store::put_state). A reminder's
// tick runs only while its reminder still has the tick's generation: cancelled or set
// again by a turn before it, the tick is acked without running.
#include <postbox/reminder.hpp>

#include "actors/runtime/context.hpp"
#include "actors/runtime/typed_handler.hpp"
#include "persistence/actor_store.hpp"
#include "persistence/reminder_store.hpp"

namespace postbox {

handler_fn make_actor_handler(std::string actor_type, actor_body_decoder decode) {
  return [actor_type = std::move(actor_type), decode = std::move(decode)](
             handler_context& hc, const delivery& d) mutable -> handler_result {
    if (d.actor_type != actor_type)
      return poison(hc, d,
                    "a " + d.type + " is handled by actors of type '" + actor_type +
                        "': send it to one (" +
                        (d.actor_type.empty() ? std::string("it names no actor")
                                              : "it names actor type '" + d.actor_type + "'") +
                        ")");
    auto call = decode(d.payload);
    if (!call)
      return poison(hc, d, "undecodable body for type '" + d.type + "': " + describe(call.error()));
    actor_turn turn;
    turn.type = d.actor_type;
    turn.key = d.actor_key;
    if (d.type == reminder_message_type(actor_type)) {
      // Turns of a key run one at a time and only turns of the key change its
      // reminders, so what this reads stays true until this turn's ack.
      auto tick = decode_json<reminder>(d.payload);
      if (!tick) return poison(hc, d, "undecodable reminder tick: " + describe(tick.error()));
      auto current = reminder_store{hc.session}.generation(d.actor_type, d.actor_key, tick->name);
      if (!current) return store_failure(hc, d, current.error());
      if (!*current || **current != tick->generation) {
        context ctx(hc, d);
        outcome stale;
        stale.note("reminder '" + tick->name + "' generation " + std::to_string(tick->generation) +
                   (*current ? " was replaced by generation " + std::to_string(**current)
                             : std::string(" was cancelled")) +
                   ": tick acked, not run");
        return finish_handled(hc, d, ctx, stale);
      }
      turn.one_shot_done = reminder_tick{d.actor_type, d.actor_key, tick->name, tick->generation};
    }
    if (auto cached = hc.actor_cache->get(d.actor_type, d.actor_key, d.actor_state_version)) {
      turn.loaded_version = d.actor_state_version;
      turn.loaded_state = std::move(*cached);
    } else {
      actor_store actors{hc.session};
      auto s = actors.state(d.actor_type, d.actor_key);
      if (!s) return store_failure(hc, d, s.error());
      turn.loaded_version = s->version;
      turn.loaded_state = s->state_json;
      hc.actor_cache->put(d.actor_type, d.actor_key, s->version, s->state_json);
    }
    turn.state = turn.loaded_state;
    context ctx(hc, d);
    attach_turn(ctx, turn);
    outcome o = (*call)(ctx, turn.state);
    if (o.what() != outcome::kind::ok) turn.state = turn.loaded_state;
    auto r = finish_handled(hc, d, ctx, o);
    if (r.what == handled::acked && r.actor_version >= 0)
      hc.actor_cache->put(d.actor_type, d.actor_key, r.actor_version, turn.state);
    return r;
  };
}

}  // namespace postbox

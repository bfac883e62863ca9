// How a runtime handler's outcome ends its delivery.
#include "actors/runtime/typed_handler.hpp"
#include "messages/storable_json.hpp"
#include "persistence/group_committer.hpp"

namespace postbox {

handler_fn make_typed_handler(body_decoder decode) {
  return [decode = std::move(decode)](handler_context& hc,
                                      const delivery& d) mutable -> handler_result {
    auto call = decode(d.payload);
    if (!call)
      return poison(hc, d, "undecodable body for type '" + d.type + "': " + describe(call.error()));
    context ctx(hc, d);
    outcome o = (*call)(ctx);
    return finish_handled(hc, d, ctx, o);
  };
}

handler_result finish_handled(handler_context& hc, const delivery& d, const context& ctx,
                              const outcome& o) {
  switch (o.what()) {
    case outcome::kind::failed:
      return store_failure(hc, d, make_error(errc::logic_error, storable_text(o.error())));
    case outcome::kind::rejected:
      return poison(hc, d, storable_text(o.error()));
    case outcome::kind::errored:
      // A write refused because the execution was cancelled: the commit below finds it
      // STOPPED and acks it (and its arrival) only, uncharged.
      if (is(o.cause(), errc::execution_stopped)) break;
      return store_failure(hc, d, o.cause());
    case outcome::kind::dropped:
      return drop(hc, d, storable_text(o.error()));
    case outcome::kind::ok:
      break;
  }
  if (!ctx.problem().empty() && o.what() == outcome::kind::ok)
    return store_failure(hc, d, make_error(errc::logic_error, storable_text(ctx.problem())));
  auto c = commit_of(ctx, o.what() == outcome::kind::ok ? o.result_json() : std::string("null"));
  c.before_commit = hc.before_commit;
  auto r = hc.committer && !c.alone ? hc.committer->commit(c) : commit_success(hc.session, c);
  if (!r) {
    // A group header naming no group (forged, or its barrier pruned): never retried.
    if (is(r.error(), errc::not_found) || is(r.error(), errc::invalid_argument))
      return poison(hc, d, describe(r.error()));
    return store_failure(hc, d, r.error());
  }
  handler_result done{handled::acked, r->group_fired ? "done; its group's callback fired" : "done"};
  if (!r->effects) done.detail = "done (declined in the ack's transaction: ack only)";
  if (!o.note().empty()) done.detail = o.note();
  if (!r->note.empty()) done.detail = r->note;
  done.actor_version = r->actor_version;
  done.duplicates = r->duplicates;
  return done;
}

}  // namespace postbox

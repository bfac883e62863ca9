// Dispatch by message type, poison handling and the mapping of store failures.
#include "actors/runtime/dispatch.hpp"

#include <algorithm>
#include <cstdlib>
#include <cstring>

#include "actors/runtime/continuations.hpp"
#include "config/topology.hpp"
#include "messages/messages.hpp"
#include "messages/utf8.hpp"
#include "persistence/actor_store.hpp"
#include "persistence/node_registry_store.hpp"
#include "persistence/units_of_work.hpp"

namespace postbox {

const char* to_string(handled x) {
  switch (x) {
    case handled::acked:
      return "acked";
    case handled::lease_lost:
      return "lease_lost";
    case handled::retry_later:
      return "retry_later";
    case handled::dead_lettered:
      return "dead_lettered";
    case handled::held:
      return "held";
  }
  return "unknown";
}

handler_context::handler_context(pg_session& s, const topology& t, const handler_registry& h,
                                 std::string o)
    : session(s),
      topo(t),
      handlers(h),
      owner(std::move(o)),
      actor_cache(std::make_shared<actor_state_cache>()) {
  const char* tmp = std::getenv("TMPDIR");
  temp_dir = tmp && *tmp ? tmp : "/tmp";
}

handler_context::~handler_context() = default;

pg_session& handler_context::reads() {
  if (topo.database.pooler != "none") return session;
  if (!reads_) {
    auto o = session.options();
    o.application_name += "/reads";
    o.read_only = true;
    reads_ = std::make_unique<pg_session>(std::move(o));
  }
  return *reads_;
}

handler_result handle_delivery(handler_context& ctx, const delivery& d) {
  try {
    if (const handler_fn* handler = ctx.handlers.find(d.queue, d.type)) return (*handler)(ctx, d);
    // Another node may handle it: give it back (uncharged) for that one.
    node_registry_store nodes{ctx.session};
    std::vector<std::string> topology_nodes;
    for (const auto& n : ctx.topo.nodes) topology_nodes.push_back(n.first);
    auto other = nodes.node_handling(d.queue, d.type, topology_nodes);
    if (!other) return store_failure(ctx, d, other.error());
    if (!other->empty()) {
      mailbox_store mailbox{ctx.session};
      auto why =
          "no handler for type '" + d.type + "' on this node; node '" + *other + "' handles it";
      (void)mailbox.nack(d.to_lease(), backoff_delay(d.read_ct), why);
      return {handled::retry_later, why};
    }
    return poison(ctx, d,
                  "unknown message type '" + d.type + "' on queue '" + d.queue +
                      "': no node's registry handles it");
  } catch (const std::exception& e) {
    // A handler bug must not kill the worker; the delivery comes back with backoff.
    return store_failure(ctx, d, make_error(errc::logic_error, e.what()));
  } catch (...) {
    return store_failure(
        ctx, d, make_error(errc::logic_error, "threw an exception that is not a std::exception"));
  }
}

handler_result poison(handler_context& ctx, const delivery& d, const std::string& reason) {
  // on_poison 'hold': the head stays where it is and its key waits for an operator
  // (postbox actor retry|skip|drop); every other key goes on. Not a message of an
  // execution or a member of a group: those end now, as any poison (guarantees 4, 9:
  // their execution fails, their group hears of it), and the key goes on.
  if (d.actor_key.empty() || ctx.topo.actor_type(d.actor_type).on_poison != "hold" ||
      !d.execution_id.empty() || group_of(d))
    return poison_now(ctx, d, reason);
  auto why = utf8_sanitize("message " + std::to_string(d.id) + " (" + d.type + " on " + d.queue +
                           "): " + reason);
  actor_store actors{ctx.session};
  if (auto err = actors.block(d.to_lease(), why)) {
    if (is(err, errc::lease_lost)) return {handled::lease_lost, describe(err)};
    return {handled::retry_later,
            "blocking actor " + d.actor_type + "/" + d.actor_key + " failed: " + describe(err)};
  }
  return {handled::held, "actor " + d.actor_type + "/" + d.actor_key + " blocked: " + why};
}

poison_request poison_request_of(const delivery& d, const std::string& reason) {
  poison_request req;
  req.delivery = d.to_lease();
  req.execution_id = d.execution_id;
  // The reason names the message, so an execution failed by it says which one.
  req.reason = utf8_sanitize("message " + std::to_string(d.id) + " (" + d.type + " on " + d.queue +
                             "): " + reason);
  req.on_error = on_error_message(d, req.reason);
  req.arrive = group_of(d);
  req.on_error_spec = on_error_spec(d);
  return req;
}

poison_request drop_request_of(const delivery& d, const std::string& reason) {
  // Dead-lettered with nothing else: no execution fails, no on_error. A member of a
  // group still arrives there with the reason (only the message the group enqueued at
  // that index can: a forged or stray one counts for nothing).
  poison_request req;
  req.delivery = d.to_lease();
  req.reason = utf8_sanitize("message " + std::to_string(d.id) + " (" + d.type + " on " + d.queue +
                             "): " + reason);
  req.arrive = group_of(d);
  return req;
}

namespace {

handler_result dead_letter(handler_context& ctx, const poison_request& req) {
  auto r = poison_message(ctx.session, req);
  if (!r) {
    if (is(r.error(), errc::lease_lost)) return {handled::lease_lost, describe(r.error())};
    // Not dead-lettered: the delivery comes back after its lease and is poisoned again.
    return {handled::retry_later, "dead-lettering failed: " + describe(r.error())};
  }
  return {handled::dead_lettered, req.reason};
}

}  // namespace

handler_result poison_now(handler_context& ctx, const delivery& d, const std::string& reason) {
  return dead_letter(ctx, poison_request_of(d, reason));
}

handler_result drop(handler_context& ctx, const delivery& d, const std::string& reason) {
  return dead_letter(ctx, drop_request_of(d, reason));
}

namespace {

/// Reads without an ack beyond which a message is dead-lettered whatever was charged.
/// In 64 bits: 10 x a large max_attempts overflows int32 (the topology bounds it too).
int64_t read_cap(int32_t max_attempts) {
  return 10 * static_cast<int64_t>(std::max(max_attempts, 1)) + 10;
}

}  // namespace

bool attempts_exhausted(const delivery& d, int32_t max_attempts) {
  return d.attempts >= max_attempts || d.read_ct > read_cap(max_attempts);
}

std::string attempts_exhausted_reason(const delivery& d, int32_t max_attempts) {
  if (d.attempts < max_attempts)
    return "read " + std::to_string(d.read_ct) + " times without an ack (" +
           std::to_string(d.attempts) + " attempt(s) charged, max_attempts is " +
           std::to_string(max_attempts) + ")" +
           (d.last_error.empty() ? std::string() : ": last error: " + d.last_error);
  return std::to_string(d.attempts) + " attempt(s) failed, max_attempts is " +
         std::to_string(max_attempts) + ": last attempt " +
         (d.last_error.empty() ? std::string("left no error") : d.last_error);
}

handler_result store_failure(handler_context& ctx, const delivery& d, const caf::error& err) {
  if (is(err, errc::lease_lost)) return {handled::lease_lost, describe(err)};
  auto text = utf8_sanitize(describe(err));
  mailbox_store mailbox{ctx.session};
  // Best effort: if the database is unreachable the lease runs out instead.
  // The database's or the node's trouble (a lost connection, a full disk), not the
  // message's: given back uncharged.
  if (is(err, errc::connection_lost) || is(err, errc::serialization_failure) ||
      is(err, errc::transient) || is(err, errc::io_error)) {
    (void)mailbox.nack(d.to_lease(), backoff_delay(d.read_ct), text);
    return {handled::retry_later, text};
  }
  text = "failed with " + text;
  (void)mailbox.fail(d.to_lease(), backoff_delay(d.attempts + 1), text);
  return {handled::retry_later, text, true};
}

}  // namespace postbox

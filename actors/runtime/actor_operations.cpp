// retry, skip and drop of a blocked actor: the stores' transactions in the order
// that keeps the key's invariant (at most one claimable head): the operator first
// takes the blocked rows under fresh receipts (the actors row locked, the rows still
// parked), then dead-letters them in one transaction whose AFTER DELETE trigger makes
// the key's next message its head.
#include "actors/runtime/actor_operations.hpp"

#include "actors/runtime/dispatch.hpp"
#include "persistence/actor_store.hpp"
#include "persistence/units_of_work.hpp"

namespace postbox {

const char* to_string(actor_verb v) {
  switch (v) {
    case actor_verb::retry:
      return "retry";
    case actor_verb::skip:
      return "skip";
    case actor_verb::drop:
      return "drop";
  }
  return "unknown";
}

std::optional<actor_verb> parse_actor_verb(const std::string& text) {
  for (auto v : {actor_verb::retry, actor_verb::skip, actor_verb::drop})
    if (text == to_string(v)) return v;
  return std::nullopt;
}

namespace {

/// Why nothing was done: the actor does not exist (not_found) or is not blocked.
caf::error not_blocked(actor_store& actors, actor_verb verb, const std::string& name,
                       const std::string& actor_type, const std::string& actor_key) {
  auto info = actors.show(actor_type, actor_key);
  if (!info) return info.error();
  return make_error(errc::invalid_argument,
                    "actor " + name + " is not blocked (" +
                        (info->head_id == 0 ? std::string("nothing is queued for it")
                                            : "its head, message " + std::to_string(info->head_id) +
                                                  ", is waiting or running") +
                        "): nothing to " + to_string(verb));
}

}  // namespace

caf::expected<actor_verb_result> act_on_blocked_actor(pg_session& session, actor_verb verb,
                                                      const std::string& actor_type,
                                                      const std::string& actor_key,
                                                      const std::string& who) {
  actor_store actors{session};
  const std::string name = actor_type + "/" + actor_key;
  actor_verb_result out;
  switch (verb) {
    case actor_verb::retry: {
      auto id = actors.retry(actor_type, actor_key);
      if (!id) return id.error();
      if (!*id) return not_blocked(actors, verb, name, actor_type, actor_key);
      out.head_id = **id;
      out.text = "actor " + name + ": message " + std::to_string(out.head_id) +
                 " runs again (attempts forgiven)";
      return out;
    }
    case actor_verb::skip: {
      auto head = actors.take_blocked_head(actor_type, actor_key, who);
      if (!head) return head.error();
      if (!*head) return not_blocked(actors, verb, name, actor_type, actor_key);
      const auto& d = **head;
      auto r = poison_message(
          session, poison_request_of(d, "skipped by " + who + " while it held actor " + name +
                                            " blocked: " + d.last_error));
      if (!r) return r.error();
      out.head_id = d.id;
      out.dead_letters.push_back(r->dead_letter_id);
      out.text = "actor " + name + ": message " + std::to_string(d.id) +
                 " dead-lettered (dead letter " + std::to_string(r->dead_letter_id) +
                 (r->execution_failed ? ", its execution failed" : "") +
                 (r->on_error_sent ? ", its on_error sent" : "") + "); the key goes on";
      return out;
    }
    case actor_verb::drop: {
      auto queued = actors.take_blocked_queue(actor_type, actor_key, who);
      if (!queued) return queued.error();
      if (queued->empty()) return not_blocked(actors, verb, name, actor_type, actor_key);
      std::vector<poison_request> reqs;
      for (const auto& d : *queued)
        reqs.push_back(drop_request_of(
            d, "dropped by " + who + " with the queue of actor " + name + " (it was blocked)"));
      auto r = poison_messages(session, reqs);
      if (!r) return r.error();
      for (const auto& o : *r) out.dead_letters.push_back(o.dead_letter_id);
      out.text = "actor " + name + ": " + std::to_string(r->size()) +
                 " message(s) dropped to dead letters; the key goes on empty";
      return out;
    }
  }
  return make_error(errc::invalid_argument, "unknown actor verb");
}

}  // namespace postbox

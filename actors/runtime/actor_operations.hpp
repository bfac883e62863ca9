// The operator's verbs for a blocked keyed actor (on_poison: hold), shared by the
// CLI (postbox actor retry|skip|drop) and the dashboard: retry runs the head again,
// skip dead-letters it through the regular poison path, drop dead-letters the whole
// queue of the key as outcome::drop does. After skip or drop the key goes on.
#pragma once

#include <caf/expected.hpp>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "persistence/pg_session.hpp"

namespace postbox {

enum class actor_verb {
  retry,  // the blocked head runs again, its attempts forgiven (postbox.actor_retry)
  skip,   // the blocked head is poisoned now: dead letter, its execution ERROR, its
          // on_error, its group arrival; the key's next message becomes its head
  drop,   // the head and every queued message of the key go to dead_letters with no
          // execution failure and no on_error (a group member still arrives); the key
          // goes on empty, with whatever is sent to it afterwards
};
const char* to_string(actor_verb v);
std::optional<actor_verb> parse_actor_verb(const std::string& text);

struct actor_verb_result {
  int64_t head_id = 0;                // retry, skip: the blocked head it acted on
  std::vector<int64_t> dead_letters;  // skip, drop: the dead letters it made
  std::string text;                   // one line saying what happened
};

/// Applies `verb` to actor `actor_type`/`actor_key`; `who` names the operator in the
/// dead letters (dead_by) and their reason. errc::not_found when there is no such
/// actor, errc::invalid_argument when it is not blocked (nothing is changed then).
caf::expected<actor_verb_result> act_on_blocked_actor(pg_session& session, actor_verb verb,
                                                      const std::string& actor_type,
                                                      const std::string& actor_key,
                                                      const std::string& who);

}  // namespace postbox

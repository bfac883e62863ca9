// postbox actors, actor show|retry|skip|drop: keyed actors as operators see them, and
// the verbs that unblock a key held by a poisoned head (on_poison: hold).
#include <cmath>
#include <iostream>

#include "actors/runtime/actor_operations.hpp"
#include "apps/cli/commands.hpp"
#include "apps/cli/support.hpp"
#include "apps/table.hpp"
#include "persistence/actor_store.hpp"

namespace postbox::cli {

namespace {

namespace json = boost::json;

json::object actor_json(const actor_info& a) {
  json::object o{{"actor_type", a.actor_type},
                 {"actor_key", a.actor_key},
                 {"queue", a.queue},
                 {"head_id", a.head_id == 0 ? json::value(nullptr) : json::value(a.head_id)},
                 {"head_age_s", std::round(a.head_age_s * 1000) / 1000},
                 {"backlog", a.backlog},
                 {"state_version", a.state_version},
                 {"turns", a.turns},
                 {"blocked", a.blocked_since != 0}};
  if (a.blocked_since != 0) {
    o["blocked_for_s"] = std::round((now_epoch() - a.blocked_since) * 1000) / 1000;
    o["blocked_reason"] = a.blocked_reason;
  }
  return o;
}

std::string blocked_cell(const actor_info& a) {
  return a.blocked_since == 0 ? "-" : "since " + ago(now_epoch() - a.blocked_since);
}

}  // namespace

int actors(const invocation& inv, const actors_args& args) {
  client c{session_for(inv)};
  actor_store store{c.session()};
  auto types = store.types(args.actor_type);
  if (!types) return fail(types.error(), "actors failed");
  auto list = store.list(args.blocked, args.actor_type, args.limit);
  if (!list) return fail(list.error(), "actors failed");
  if (inv.json) {
    json::array type_rows;
    for (const auto& t : *types)
      type_rows.push_back(json::object{
          {"actor_type", t.actor_type},
          {"queue", t.queue.empty() ? json::value(nullptr) : json::value(t.queue)},
          {"on_poison", t.on_poison.empty() ? json::value(nullptr) : json::value(t.on_poison)},
          {"keys_with_backlog", t.keys_with_backlog},
          {"blocked", t.blocked},
          {"oldest_head_age_s", std::round(t.oldest_head_age_s * 1000) / 1000}});
    json::array actor_rows;
    for (const auto& a : *list) actor_rows.push_back(actor_json(a));
    std::cout << json::serialize(json::object{{"types", type_rows}, {"actors", actor_rows}})
              << "\n";
    return 0;
  }
  std::vector<std::vector<std::string>> type_table;
  for (const auto& t : *types)
    type_table.push_back(
        {t.actor_type, t.queue.empty() ? "-" : t.queue, t.on_poison.empty() ? "-" : t.on_poison,
         std::to_string(t.keys_with_backlog), std::to_string(t.blocked),
         t.keys_with_backlog > 0 ? std::to_string(static_cast<int64_t>(t.oldest_head_age_s)) + "s"
                                 : "-"});
  print_table(std::cout,
              {"TYPE", "QUEUE", "ON POISON", "KEYS WITH BACKLOG", "BLOCKED", "OLDEST HEAD"},
              type_table);
  std::cout << "\n";
  std::vector<std::vector<std::string>> rows;
  for (const auto& a : *list)
    rows.push_back({a.actor_type, a.actor_key, a.queue,
                    a.head_id == 0 ? "-" : std::to_string(a.head_id), std::to_string(a.backlog),
                    std::to_string(a.turns), blocked_cell(a),
                    a.blocked_reason.empty() ? "" : a.blocked_reason});
  print_table(std::cout, {"TYPE", "KEY", "QUEUE", "HEAD", "BACKLOG", "TURNS", "BLOCKED", "REASON"},
              rows);
  return 0;
}

int actor_show(const invocation& inv, const std::string& actor_type, const std::string& actor_key) {
  client c{session_for(inv)};
  actor_store store{c.session()};
  auto a = store.show(actor_type, actor_key);
  if (!a) {
    if (is(a.error(), errc::not_found))
      return fail("actor show: no actor " + actor_type + "/" + actor_key +
                  " (nothing was ever sent to it)");
    return fail(a.error(), "actor show failed");
  }
  json::error_code ec;
  auto state = json::parse(a->state_json, ec);
  if (inv.json) {
    auto o = actor_json(*a);
    o["state"] = ec ? json::value(a->state_json) : state;
    std::cout << json::serialize(o) << "\n";
    return 0;
  }
  print_table(
      std::cout, {"field", "value"},
      {{"actor", a->actor_type + "/" + a->actor_key},
       {"queue", a->queue},
       {"state_version", std::to_string(a->state_version)},
       {"state", a->state_json},
       {"head", a->head_id == 0 ? "-"
                                : "message " + std::to_string(a->head_id) + " (the head for " +
                                      std::to_string(static_cast<int64_t>(a->head_age_s)) + "s)"},
       {"backlog", std::to_string(a->backlog)},
       {"turns", std::to_string(a->turns)},
       {"blocked", blocked_cell(*a)},
       {"blocked_reason", a->blocked_reason.empty() ? "-" : a->blocked_reason}});
  return 0;
}

int actor_verb(const invocation& inv, const std::string& verb, const std::string& actor_type,
               const std::string& actor_key) {
  auto v = parse_actor_verb(verb);
  if (!v) return fail("actor: unknown verb '" + verb + "' (retry, skip or drop)", 2);
  client c{session_for(inv)};
  auto r = act_on_blocked_actor(c.session(), *v, actor_type, actor_key,
                                "an operator (postbox actor " + verb + ")");
  if (!r) {
    // Not blocked, or no such actor: refused, nothing changed (exit 1, not bad syntax).
    if (is(r.error(), errc::invalid_argument) || is(r.error(), errc::not_found))
      return fail("actor " + verb + " refused: " + describe(r.error()));
    return fail(r.error(), "actor " + verb + " failed");
  }
  if (inv.json) {
    json::array dead;
    for (auto id : r->dead_letters) dead.push_back(id);
    json::object o{{"actor_type", actor_type},
                   {"actor_key", actor_key},
                   {"verb", verb},
                   {"dead_letters", dead}};
    if (r->head_id != 0) o["message_id"] = r->head_id;
    std::cout << json::serialize(o) << "\n";
  } else {
    std::cout << r->text << "\n";
  }
  return 0;
}

}  // namespace postbox::cli

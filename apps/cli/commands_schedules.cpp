// postbox schedules [pause|resume|trigger NAME]: cron schedules as operators see them
// (persistence/schedule_store.hpp), and the verbs that stop, restart or run one now.
#include <ctime>
#include <iostream>

#include "apps/cli/commands.hpp"
#include "apps/cli/support.hpp"
#include "apps/table.hpp"
#include "persistence/schedule_store.hpp"

namespace postbox::cli {

namespace {

namespace json = boost::json;

std::string utc_text(const std::optional<int64_t>& ms) {
  if (!ms) return "-";
  std::time_t secs = static_cast<std::time_t>(*ms / 1000);
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

json::value opt_json(const std::optional<int64_t>& ms) {
  return ms ? json::value(utc_text(ms)) : json::value(nullptr);
}

std::string state_of(const schedule_row& s) {
  if (!s.error.empty()) return "error";
  if (s.paused) return "paused";
  if (s.stale) return "stale";
  return "active";
}

}  // namespace

int schedules(const invocation& inv) {
  client c{session_for(inv)};
  schedule_store store{c.session()};
  auto list = store.list(schedule_stale_ms);
  if (!list) return fail(list.error(), "schedules failed");
  if (inv.json) {
    json::array rows;
    for (const auto& s : *list)
      rows.push_back(json::object{{"name", s.name},
                                  {"cron", s.cron},
                                  {"timezone", s.timezone},
                                  {"next_tick", opt_json(s.next_tick)},
                                  {"last_tick", opt_json(s.last_tick)},
                                  {"paused", s.paused},
                                  {"state", state_of(s)},
                                  {"on_missed", s.on_missed},
                                  {"overlap", s.overlap},
                                  {"defined_by", s.defined_by},
                                  {"sent", s.sent},
                                  {"skipped", s.skipped},
                                  {"missed", s.missed},
                                  {"error", s.error}});
    std::cout << json::serialize(rows) << "\n";
    return 0;
  }
  std::vector<std::vector<std::string>> rows;
  for (const auto& s : *list)
    rows.push_back({s.name, s.cron, s.timezone, utc_text(s.next_tick), utc_text(s.last_tick),
                    state_of(s), std::to_string(s.sent), std::to_string(s.missed), s.defined_by,
                    s.error});
  print_table(std::cout,
              {"NAME", "CRON", "ZONE", "NEXT TICK", "LAST TICK", "STATE", "SENT", "MISSED",
               "DEFINED BY", "ERROR"},
              rows);
  return 0;
}

int schedule_verb(const invocation& inv, const std::string& verb, const std::string& name) {
  client c{session_for(inv)};
  schedule_store store{c.session()};
  int64_t message_id = 0;
  caf::error err;
  if (verb == "trigger") {
    auto id = store.trigger(name);
    if (id)
      message_id = *id;
    else
      err = id.error();
  } else if (verb == "pause" || verb == "resume") {
    err = store.set_paused(name, verb == "pause");
  } else {
    return fail("schedules: unknown verb '" + verb + "' (pause, resume or trigger)", 2);
  }
  if (err) {
    if (is(err, errc::not_found))
      return fail("schedules " + verb + ": no schedule named '" + name + "'");
    return fail(err, "schedules " + verb + " failed");
  }
  if (inv.json) {
    json::object o{{"name", name}, {"verb", verb}};
    if (message_id != 0) o["message_id"] = message_id;
    std::cout << json::serialize(o) << "\n";
  } else if (message_id != 0) {
    std::cout << "schedule " << name << " triggered: message " << message_id << "\n";
  } else {
    std::cout << "schedule " << name << (verb == "pause" ? " paused" : " resumed") << "\n";
  }
  return 0;
}

}  // namespace postbox::cli

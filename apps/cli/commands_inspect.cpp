// postbox queues, nodes, dead-letters list|show|retry: what the database holds.
#include <cmath>
#include <iostream>
#include <sstream>

#include "apps/cli/commands.hpp"
#include "apps/cli/support.hpp"
#include "apps/table.hpp"
#include "persistence/execution_json.hpp"

namespace postbox::cli {

namespace json = boost::json;

int queues(const invocation& inv) {
  client c{session_for(inv)};
  auto qs = c.inspect().queues();
  if (!qs) return fail(qs.error(), "queues failed");
  if (inv.json) {
    json::array out;
    for (const auto& q : *qs)
      out.push_back(
          json::object{{"queue", q.queue},
                       {"ready", q.ready},
                       {"in_flight", q.in_flight},
                       {"delayed", q.delayed},
                       {"dead_letters", q.dead},
                       {"oldest_age_s", std::round(q.oldest_age_s * 1000) / 1000},
                       {"dedup_keys", q.dedup_keys},
                       {"throttled", q.throttled},
                       {"waiting_slot", q.waiting_slot},
                       {"ready_by_priority", json::object{{"low", q.ready_by_priority[0]},
                                                          {"normal", q.ready_by_priority[1]},
                                                          {"high", q.ready_by_priority[2]},
                                                          {"urgent", q.ready_by_priority[3]}}}});
    std::cout << json::serialize(out) << "\n";
    return 0;
  }
  std::vector<std::vector<std::string>> rows;
  for (const auto& q : *qs) {
    const auto& t = q.ready_by_priority;
    rows.push_back({q.queue, std::to_string(q.ready),
                    std::to_string(t[3]) + "/" + std::to_string(t[2]) + "/" + std::to_string(t[1]) +
                        "/" + std::to_string(t[0]),
                    std::to_string(q.in_flight), std::to_string(q.delayed), std::to_string(q.dead),
                    q.ready + q.in_flight + q.delayed > 0 ? ago(q.oldest_age_s) : "-",
                    std::to_string(q.dedup_keys)});
  }
  print_table(std::cout,
              {"QUEUE", "READY", "URGENT/HIGH/NORMAL/LOW", "IN FLIGHT", "DELAYED", "DEAD", "OLDEST",
               "DEDUP KEYS"},
              rows);
  // Limits (topology queues.<q> max_in_flight/rate and limits.<key>), when there are any.
  auto ls = c.inspect().limits();
  if (!ls) return fail(ls.error(), "queues failed");
  if (ls->empty()) return 0;
  std::vector<std::vector<std::string>> lrows;
  for (const auto& l : *ls) {
    std::ostringstream rate;
    if (l.rate > 0) rate << l.rate << "/s burst " << l.burst;
    lrows.push_back({l.scope + " " + l.key,
                     l.max_in_flight > 0
                         ? std::to_string(l.in_use) + "/" + std::to_string(l.max_in_flight)
                         : "-",
                     l.rate > 0 ? rate.str() : "-", std::to_string(l.throttled),
                     std::to_string(l.waiting_slot)});
  }
  std::cout << "\n";
  print_table(std::cout, {"LIMIT", "SLOTS IN USE", "RATE", "THROTTLED", "WAITING FOR SLOT"}, lrows);
  return 0;
}

int nodes(const invocation& inv) {
  client c{session_for(inv)};
  auto ns = c.inspect().nodes();
  if (!ns) return fail(ns.error(), "nodes failed");
  if (inv.json) {
    json::array out;
    for (const auto& n : *ns)
      out.push_back(json::object{{"name", n.name},
                                 {"host", n.host},
                                 {"control_port", n.control_port},
                                 {"http_port", n.http_port},
                                 {"roles", n.roles},
                                 {"pid", n.pid},
                                 {"state", n.heartbeat_age_s < stale_after_s ? "live" : "stale"},
                                 {"heartbeat_age_s", std::round(n.heartbeat_age_s * 10) / 10},
                                 {"leader", n.leader}});
    std::cout << json::serialize(out) << "\n";
    return 0;
  }
  std::vector<std::vector<std::string>> rows;
  for (const auto& n : *ns)
    rows.push_back({n.name, n.heartbeat_age_s < stale_after_s ? "live" : "stale",
                    n.host + (n.control_port ? ":" + std::to_string(n.control_port) : ""), n.roles,
                    std::to_string(n.pid), ago(n.heartbeat_age_s), n.leader ? "reaper" : ""});
  print_table(std::cout, {"NODE", "STATE", "ADDRESS", "ROLES", "PID", "HEARTBEAT", "LEADER"}, rows);
  return 0;
}

int dead_letters_list(const invocation& inv, int limit) {
  client c{session_for(inv)};
  auto list = c.inspect().dead_letters(limit);
  if (!list) return fail(list.error(), "dead-letters list failed");
  if (inv.json) {
    json::array out;
    for (const auto& d : *list)
      out.push_back(json::object{
          {"id", d.id},
          {"message_id", d.message_id},
          {"queue", d.queue},
          {"type", d.type},
          {"execution_id", d.execution_id},
          {"read_ct", d.read_ct},
          {"attempts", d.attempts},
          {"reason", d.reason},
          {"dead_at", utc_timestamp(d.dead_epoch)},
          {"retried_as", d.retried_as ? json::value(d.retried_as) : json::value(nullptr)}});
    std::cout << json::serialize(out) << "\n";
    return 0;
  }
  std::vector<std::vector<std::string>> rows;
  for (const auto& d : *list) {
    auto reason = d.reason.size() > 60 ? d.reason.substr(0, 57) + "..." : d.reason;
    rows.push_back({std::to_string(d.id), d.queue, d.type,
                    d.execution_id.empty() ? "-" : d.execution_id, std::to_string(d.attempts),
                    std::to_string(d.read_ct), ago(now_epoch() - d.dead_epoch),
                    d.retried_as ? "as " + std::to_string(d.retried_as) : "", reason});
  }
  print_table(
      std::cout,
      {"ID", "QUEUE", "TYPE", "EXECUTION", "ATTEMPTS", "READS", "DIED", "RETRIED", "REASON"}, rows);
  return 0;
}

int dead_letters_retry(const invocation& inv, int id) {
  client c{session_for(inv)};
  auto msg = c.inspect().dead_letter_retry(id);
  if (!msg) return fail(msg.error(), "dead-letters retry failed");
  if (inv.json)
    std::cout << json::serialize(json::object{{"dead_letter", id}, {"message_id", *msg}}) << "\n";
  else
    std::cout << "dead letter " << id << " re-enqueued as message " << *msg << "\n";
  return 0;
}

int dead_letters_show(const invocation& inv, int id) {
  client c{session_for(inv)};
  auto d = c.inspect().dead_letter(id);
  if (!d) return fail(d.error(), "dead-letters show failed");
  json::error_code ec;
  auto payload = json::parse(d->payload, ec);
  auto headers = json::parse(d->headers, ec);
  json::object o{{"id", d->id},
                 {"message_id", d->message_id},
                 {"queue", d->queue},
                 {"type", d->type},
                 {"execution_id", d->execution_id},
                 {"org", d->org},
                 {"read_ct", d->read_ct},
                 {"attempts", d->attempts},
                 {"last_error", d->last_error},
                 {"reason", d->reason},
                 {"enqueued_at", utc_timestamp(d->enqueued_epoch)},
                 {"dead_at", utc_timestamp(d->dead_epoch)},
                 {"dead_by", d->dead_by},
                 {"retried_as", d->retried_as ? json::value(d->retried_as) : json::value(nullptr)},
                 {"payload", payload},
                 {"headers", headers}};
  if (inv.json) {
    std::cout << json::serialize(o) << "\n";
    return 0;
  }
  std::vector<std::vector<std::string>> rows;
  for (const auto& kv : o)
    rows.push_back({std::string(kv.key()), kv.value().is_string()
                                               ? std::string(kv.value().as_string())
                                               : json::serialize(kv.value())});
  print_table(std::cout, {"field", "value"}, rows);
  return 0;
}

}  // namespace postbox::cli

// Commands of the `postbox` client. Errors go to stderr as one line; the exit
// code is 0 on success, 1 when the command failed, 2 on a bad invocation, 3 when
// `ask` / `reply` saw no reply in time (the request may still answer).
#include "apps/cli.hpp"

#include <unistd.h>

#include <algorithm>
#include <boost/json.hpp>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <ctime>
#include <iostream>
#include <map>
#include <optional>
#include <sstream>
#include <string>
#include <tuple>
#include <vector>

#include "apps/table.hpp"
#include "client/client.hpp"
#include "client/control_client.hpp"
#include "config/topology.hpp"
#include "messages/json_codec.hpp"
#include "persistence/execution_json.hpp"
#include "persistence/migrator.hpp"
#include "postbox/version.hpp"

namespace postbox::cli {

namespace {

namespace json = boost::json;

struct invocation {
  std::string dsn;
  std::string topology_path;
  std::optional<topology> topo;  // loaded when --topology / $POSTBOX_TOPOLOGY is given
  bool json = false;
  std::string command;
  std::vector<std::string> args;
};

const char* usage =
    "usage: postbox [--dsn DSN] [--topology FILE] [--json] COMMAND [ARGS] | --version\n"
    "commands:\n"
    "  migrate                          apply the schema migrations (idempotent)\n"
    "  submit --workflow NAME [--upload] [--batch-size N] [--org ORG] [--wait] PATH...\n"
    "                                   create an execution over the files (folders are walked)\n"
    "  status EXECUTION_ID              execution_id, workflow, status, file counts, error\n"
    "  watch EXECUTION_ID               progress until the execution is terminal\n"
    "  cancel EXECUTION_ID              STOPPED at once; nothing of it commits afterwards\n"
    "                                   (already terminal: says so, exit 0)\n"
    "  executions [--status S] [--workflow W] [--limit N]   newest first\n"
    "  queues                           ready, in flight, delayed, dead letters, oldest age\n"
    "  nodes                            live/stale by heartbeat, roles, reaper leader\n"
    "  dead-letters list [--limit N] | show ID | retry ID\n"
    "  send --queue Q --type T --json-payload J [--on-success C] [--on-error C] [--headers H]\n"
    "       [--force]                   any message (the pipeline's types are validated; other\n"
    "                                   types need a JSON object); C = {queue, type, payload};\n"
    "                                   a type no node handles on Q is refused unless --force\n"
    "  ask --queue Q --type T --json-payload J [--timeout D] [--headers H] [--request-id ID]\n"
    "                                   send a request and print the handler's reply (JSON);\n"
    "                                   exit 1 if dead-lettered, 3 if no reply within D (30s)\n"
    "  reply REQUEST_ID [--wait D]      the stored reply to an earlier ask (exit codes as ask)\n"
    "  pause QUEUE | resume QUEUE       stop / restart claiming QUEUE on every node (control "
    "plane)\n"
    "  drain NODE                       the node stops claiming, finishes, exits 0 (control "
    "plane)\n"
    "DSN: --dsn, else $POSTBOX_DSN, else database.dsn of --topology ($POSTBOX_TOPOLOGY);\n"
    "--dsn also fills ${POSTBOX_DSN} in the topology when that variable is unset.\n";

/// Connection options for the client: behind a transaction-mode pooler (per the
/// topology) no named prepared statements and no session settings.
session_options session_for(const invocation& inv) {
  session_options o{inv.dsn, "postbox-cli"};
  if (inv.topo && inv.topo->database.pooler == "transaction") {
    o.prepared_statements = false;
    o.idle_in_transaction_timeout = std::chrono::milliseconds(0);
  }
  return o;
}

/// Nodes whose heartbeat is older than this are shown as stale.
constexpr double stale_after_s = 10.0;

int fail(const std::string& line, int code = 1) {
  std::cerr << "postbox: " << line << "\n";
  return code;
}

int fail(const caf::error& err, const std::string& what) {
  return fail(what + ": " + describe(err),
              is(err, errc::invalid_argument) || is(err, errc::decode_failed) ? 2 : 1);
}

/// Options of a command: `--name value` pairs and flags; the rest are positional.
struct options {
  std::map<std::string, std::string> values;
  std::vector<std::string> flags;
  std::vector<std::string> positional;
  std::string error;

  bool has(const std::string& flag) const {
    return std::find(flags.begin(), flags.end(), flag) != flags.end();
  }
  std::string get(const std::string& name, const std::string& dflt = "") const {
    auto i = values.find(name);
    return i == values.end() ? dflt : i->second;
  }
};

options parse_options(const std::vector<std::string>& args, const std::vector<std::string>& valued,
                      const std::vector<std::string>& flags) {
  options o;
  for (size_t i = 0; i < args.size(); ++i) {
    const auto& a = args[i];
    if (std::find(valued.begin(), valued.end(), a) != valued.end()) {
      if (i + 1 >= args.size()) {
        o.error = a + " needs a value";
        return o;
      }
      o.values[a] = args[++i];
    } else if (std::find(flags.begin(), flags.end(), a) != flags.end()) {
      o.flags.push_back(a);
    } else if (a.size() > 1 && a[0] == '-') {
      o.error = "unknown option '" + a + "'";
      return o;
    } else {
      o.positional.push_back(a);
    }
  }
  return o;
}

bool parse_positive(const std::string& text, int& out) {
  char* end = nullptr;
  long n = std::strtol(text.c_str(), &end, 10);
  if (text.empty() || *end || n <= 0 || n > 1000000) return false;
  out = static_cast<int>(n);
  return true;
}

std::string ago(double seconds) {
  if (seconds < 1) return "now";
  if (seconds < 120) return std::to_string(static_cast<int>(seconds)) + "s ago";
  if (seconds < 7200) return std::to_string(static_cast<int>(seconds / 60)) + "m ago";
  return std::to_string(static_cast<int>(seconds / 3600)) + "h ago";
}

double now_epoch() {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

json::value execution_json(const execution_record& e) {
  return json::parse(execution_to_json(e));
}

void print_execution(const execution_record& e, bool as_json) {
  if (as_json) {
    std::cout << json::serialize(execution_json(e)) << "\n";
    return;
  }
  print_table(std::cout, {"field", "value"},
              {{"execution_id", e.id},
               {"workflow", e.workflow},
               {"status", to_string(e.status)},
               {"files_total", std::to_string(e.files_total)},
               {"files_done", std::to_string(e.files_done)},
               {"files_failed", std::to_string(e.files_failed)},
               {"files_not_run", std::to_string(e.files_not_run())},
               {"error", e.error.empty() ? "-" : e.error}});
}

/// Progress while waiting: a bar on a terminal, one line per change otherwise.
struct progress_printer {
  bool tty = ::isatty(STDERR_FILENO);
  std::chrono::steady_clock::time_point start = std::chrono::steady_clock::now();
  std::string last;

  void operator()(const execution_record& e) {
    int done = e.files_done + e.files_failed;
    double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    int rate = secs > 0.2 ? static_cast<int>(done / secs) : 0;
    std::ostringstream line;
    if (tty) {
      int width = 30;
      int filled = e.files_total > 0 ? width * done / e.files_total : 0;
      line << "\r[" << std::string(filled, '#') << std::string(width - filled, '.') << "] ";
    }
    line << to_string(e.status) << " " << done << "/" << e.files_total << " files, "
         << e.files_failed << " failed, " << rate << " files/s";
    if (tty) {
      std::cerr << line.str() << "   " << std::flush;
      if (is_terminal(e.status)) std::cerr << "\n";
    } else if (line.str() != last) {
      std::cerr << line.str() << "\n";
    }
    last = line.str();
  }
};

/// Follows an execution: pushed updates from a node's control actor when one
/// answers, else polling Postgres (the source of truth).
int follow(const invocation& inv, client& c, const std::string& id) {
  progress_printer progress;
  std::function<void(const execution_record&)> show;
  if (!inv.json) show = std::ref(progress);
  auto targets = control_targets(inv.topo ? &*inv.topo : nullptr, c.inspect());
  if (!targets.empty()) {
    control_client control{inv.topo ? inv.topo->control : control_config{},
                           client_control_token(inv.topo ? &*inv.topo : nullptr)};
    auto node = control.connect(targets);
    if (node) {
      if (!inv.json) std::cerr << "live updates from node " << *node << "\n";
      auto e = control.watch(id, show);
      if (e) {
        print_execution(*e, inv.json);
        return e->status == execution_status::completed ? 0 : 1;
      }
      if (!inv.json)
        std::cerr << "\ncontrol plane: " << describe(e.error()) << "; polling Postgres\n";
    } else if (!inv.json) {
      std::cerr << "control plane unreachable (" << describe(node.error())
                << "); polling Postgres\n";
    }
  }
  auto e = c.wait(id, show);
  if (!e) return fail(e.error(), "watch " + id);
  print_execution(*e, inv.json);
  return e->status == execution_status::completed ? 0 : 1;
}

int cmd_migrate(const invocation& inv) {
  pg_session session{session_for(inv)};
  auto report = migrate(session);
  if (!report && is(report.error(), errc::schema_newer)) return fail(detail_of(report.error()));
  if (!report) return fail(report.error(), "migrate failed");
  if (inv.json) {
    json::object o;
    o["version"] = report->current_version;
    json::array applied;
    for (const auto& name : report->applied) applied.emplace_back(name);
    o["applied"] = std::move(applied);
    std::cout << json::serialize(o) << "\n";
  } else if (report->applied.empty()) {
    std::cout << "schema is up to date (version " << report->current_version << ")\n";
  } else {
    for (const auto& name : report->applied) std::cout << "applied " << name << "\n";
    std::cout << "schema is at version " << report->current_version << "\n";
  }
  return 0;
}

int cmd_submit(const invocation& inv) {
  auto o = parse_options(inv.args, {"--workflow", "--batch-size", "--org"}, {"--upload", "--wait"});
  if (!o.error.empty()) return fail("submit: " + o.error, 2);
  submit_request req;
  req.workflow = o.get("--workflow");
  req.org = o.get("--org");
  req.upload = o.has("--upload");
  req.paths = o.positional;
  if (req.workflow.empty()) return fail("submit needs --workflow NAME", 2);
  if (o.values.count("--batch-size") && !parse_positive(o.get("--batch-size"), req.batch_size))
    return fail("--batch-size wants a positive integer, got '" + o.get("--batch-size") + "'", 2);
  if (req.paths.empty()) return fail("submit needs at least one PATH", 2);
  if (inv.topo) {
    const auto& topo = inv.topo;
    if (!topo->workflows.count(req.workflow)) {
      std::string names;
      for (const auto& [name, _] : topo->workflows) names += (names.empty() ? "" : ", ") + name;
      return fail("unknown workflow '" + req.workflow + "' (workflows: " + names + ")", 2);
    }
  }
  if (auto files = collect_files(req.paths); !files) return fail(describe(files.error()), 2);
  client c{session_for(inv)};
  auto sub = c.submit(req);
  if (!sub) return fail(sub.error(), "submit failed");
  if (o.has("--wait")) {
    if (!inv.json) std::cerr << "submitted " << sub->execution_id << "\n";
    return follow(inv, c, sub->execution_id);
  }
  if (inv.json) {
    json::object out;
    out["execution_id"] = sub->execution_id;
    out["status"] = "QUEUED";
    std::cout << json::serialize(out) << "\n";
  } else {
    std::cout << sub->execution_id << "\n";
  }
  return 0;
}

int cmd_status(const invocation& inv) {
  if (inv.args.size() != 1) return fail("status needs exactly one EXECUTION_ID", 2);
  client c{session_for(inv)};
  auto e = c.status(inv.args[0]);
  if (!e) {
    if (is(e.error(), errc::not_found)) return fail("no execution " + inv.args[0]);
    return fail(e.error(), "status failed");
  }
  print_execution(*e, inv.json);
  return 0;
}

int cmd_cancel(const invocation& inv) {
  if (inv.args.size() != 1) return fail("cancel needs exactly one EXECUTION_ID", 2);
  client c{session_for(inv)};
  auto r = c.cancel(inv.args[0]);
  if (!r) {
    if (is(r.error(), errc::not_found)) return fail("no execution " + inv.args[0]);
    return fail(r.error(), "cancel failed");
  }
  // Cancelling a terminal execution is no error: the caller's wish (it does not run)
  // holds either way, and scripts can tell the two apart by `cancelled`.
  if (inv.json) {
    json::object out{{"execution_id", inv.args[0]},
                     {"status", to_string(r->status)},
                     {"cancelled", r->cancelled}};
    std::cout << json::serialize(out) << "\n";
  } else if (r->cancelled) {
    std::cout << "cancelled " << inv.args[0] << ": STOPPED\n";
  } else {
    std::cout << "already " << to_string(r->status) << ": nothing to cancel\n";
  }
  return 0;
}

int cmd_watch(const invocation& inv) {
  if (inv.args.size() != 1) return fail("watch needs exactly one EXECUTION_ID", 2);
  client c{session_for(inv)};
  auto e = c.status(inv.args[0]);
  if (!e) {
    if (is(e.error(), errc::not_found)) return fail("no execution " + inv.args[0]);
    return fail(e.error(), "watch failed");
  }
  return follow(inv, c, inv.args[0]);
}

int cmd_executions(const invocation& inv) {
  auto o = parse_options(inv.args, {"--status", "--workflow", "--limit"}, {});
  if (!o.error.empty() || !o.positional.empty())
    return fail(
        "executions: " + (o.error.empty() ? "unexpected '" + o.positional[0] + "'" : o.error), 2);
  std::optional<std::string> status, workflow;
  if (o.values.count("--status")) {
    std::string s = o.get("--status");
    std::transform(s.begin(), s.end(), s.begin(), ::toupper);
    if (!parse_execution_status(s))
      return fail("--status wants QUEUED, EXECUTING, COMPLETED, ERROR or STOPPED, got '" +
                      o.get("--status") + "'",
                  2);
    status = s;
  }
  if (o.values.count("--workflow")) workflow = o.get("--workflow");
  int limit = 20;
  if (o.values.count("--limit") && !parse_positive(o.get("--limit"), limit))
    return fail("--limit wants a positive integer, got '" + o.get("--limit") + "'", 2);
  client c{session_for(inv)};
  auto list = c.inspect().executions(status, workflow, limit);
  if (!list) return fail(list.error(), "executions failed");
  if (inv.json) {
    json::array out;
    for (const auto& e : *list) out.push_back(execution_json(e));
    std::cout << json::serialize(out) << "\n";
    return 0;
  }
  std::vector<std::vector<std::string>> rows;
  for (const auto& e : *list)
    rows.push_back({e.id, e.workflow, to_string(e.status),
                    std::to_string(e.files_done) + "/" + std::to_string(e.files_total),
                    std::to_string(e.files_failed), ago(now_epoch() - e.created_epoch)});
  print_table(std::cout, {"EXECUTION", "WORKFLOW", "STATUS", "DONE", "FAILED", "CREATED"}, rows);
  return 0;
}

int cmd_queues(const invocation& inv) {
  if (!inv.args.empty()) return fail("queues takes no arguments", 2);
  client c{session_for(inv)};
  auto qs = c.inspect().queues();
  if (!qs) return fail(qs.error(), "queues failed");
  if (inv.json) {
    json::array out;
    for (const auto& q : *qs)
      out.push_back(json::object{{"queue", q.queue},
                                 {"ready", q.ready},
                                 {"in_flight", q.in_flight},
                                 {"delayed", q.delayed},
                                 {"dead_letters", q.dead},
                                 {"oldest_age_s", std::round(q.oldest_age_s * 1000) / 1000}});
    std::cout << json::serialize(out) << "\n";
    return 0;
  }
  std::vector<std::vector<std::string>> rows;
  for (const auto& q : *qs)
    rows.push_back({q.queue, std::to_string(q.ready), std::to_string(q.in_flight),
                    std::to_string(q.delayed), std::to_string(q.dead),
                    q.ready + q.in_flight + q.delayed > 0 ? ago(q.oldest_age_s) : "-"});
  print_table(std::cout, {"QUEUE", "READY", "IN FLIGHT", "DELAYED", "DEAD", "OLDEST"}, rows);
  return 0;
}

int cmd_nodes(const invocation& inv) {
  if (!inv.args.empty()) return fail("nodes takes no arguments", 2);
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

int cmd_dead_letters(const invocation& inv) {
  if (inv.args.empty()) return fail("dead-letters needs list, show ID or retry ID", 2);
  const auto& sub = inv.args[0];
  std::vector<std::string> rest(inv.args.begin() + 1, inv.args.end());
  client c{session_for(inv)};
  if (sub == "list") {
    auto o = parse_options(rest, {"--limit"}, {});
    int limit = 50;
    if (!o.error.empty()) return fail("dead-letters list: " + o.error, 2);
    if (o.values.count("--limit") && !parse_positive(o.get("--limit"), limit))
      return fail("--limit wants a positive integer, got '" + o.get("--limit") + "'", 2);
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
        {"ID", "QUEUE", "TYPE", "EXECUTION", "ATTEMPTS", "READS", "DIED", "RETRIED", "REASON"},
        rows);
    return 0;
  }
  if (sub != "show" && sub != "retry")
    return fail("dead-letters: unknown subcommand '" + sub + "' (list, show ID, retry ID)", 2);
  int id = 0;
  if (rest.size() != 1 || !parse_positive(rest[0], id))
    return fail("dead-letters " + sub + " needs one numeric ID", 2);
  if (sub == "retry") {
    auto msg = c.inspect().dead_letter_retry(id);
    if (!msg) return fail(msg.error(), "dead-letters retry failed");
    if (inv.json)
      std::cout << json::serialize(json::object{{"dead_letter", id}, {"message_id", *msg}}) << "\n";
    else
      std::cout << "dead letter " << id << " re-enqueued as message " << *msg << "\n";
    return 0;
  }
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

int cmd_send(const invocation& inv) {
  auto o = parse_options(
      inv.args, {"--queue", "--type", "--json-payload", "--headers", "--on-success", "--on-error"},
      {"--force"});
  if (!o.error.empty() || !o.positional.empty())
    return fail("send: " + (o.error.empty() ? "unexpected '" + o.positional[0] + "'" : o.error), 2);
  for (const char* required : {"--queue", "--type", "--json-payload"})
    if (!o.values.count(required)) return fail(std::string("send needs ") + required, 2);
  // --on-success / --on-error '{"queue": Q, "type": T, "payload": {...}}' (seed 003's
  // continuations) go into the headers beside whatever --headers gives.
  auto headers = decode_message_headers(o.get("--headers", "{}"));
  if (!headers) return fail("send: --headers: " + describe(headers.error()), 2);
  for (auto [flag, has, slot] :
       {std::make_tuple("--on-success", &headers->has_on_success, &headers->on_success),
        std::make_tuple("--on-error", &headers->has_on_error, &headers->on_error)}) {
    if (!o.values.count(flag)) continue;
    auto c = decode_continuation(o.get(flag));
    if (!c) return fail(std::string("send: ") + flag + ": " + describe(c.error()), 2);
    *has = true;
    *slot = std::move(*c);
  }
  client c{session_for(inv)};
  // A type no node handles on that queue would be dead-lettered by the consumers'
  // sweep within seconds: refuse it now, naming what is handled there.
  if (!o.has("--force")) {
    std::vector<std::string> among;
    if (inv.topo)
      for (const auto& [name, _] : inv.topo->nodes) among.push_back(name);
    if (auto err = c.check_handled(o.get("--queue"), o.get("--type"), among))
      return fail(err, "send refused");
  }
  auto id = c.send(o.get("--queue"), o.get("--type"), o.get("--json-payload"), to_json(*headers));
  if (!id) return fail(id.error(), "send refused");
  if (inv.json)
    std::cout << json::serialize(json::object{{"message_id", *id}, {"queue", o.get("--queue")}})
              << "\n";
  else
    std::cout << "message " << *id << " sent to " << o.get("--queue") << "\n";
  return 0;
}

/// Exit code of `ask` / `reply` when no reply came in time (the request may still answer).
constexpr int exit_no_reply = 3;

std::string one_line(std::string text) {
  std::replace(text.begin(), text.end(), '\n', ' ');
  std::replace(text.begin(), text.end(), '\r', ' ');
  return text;
}

/// Prints a reply: its body on stdout (with --json: the request, message and
/// status around it); a dead letter or a missed deadline as one line on stderr.
int print_reply(const invocation& inv, const ask_reply& r, const std::string& waited) {
  if (inv.json) {
    json::object o{{"request_id", r.request_id}, {"message_id", r.message_id}};
    json::error_code ec;
    switch (r.status) {
      case reply_status::ok: {
        auto body = json::parse(r.body, ec);
        o["status"] = "ok";
        o["reply"] = ec ? json::value(r.body) : body;
        break;
      }
      case reply_status::error:
        o["status"] = "error";
        o["error"] = r.error;
        break;
      case reply_status::pending:
        o["status"] = "pending";
        break;
    }
    std::cout << json::serialize(o) << "\n";
  }
  auto request = "request " + r.request_id + " (message " + std::to_string(r.message_id) + ")";
  switch (r.status) {
    case reply_status::ok:
      if (!inv.json) std::cout << r.body << "\n";
      return 0;
    case reply_status::error:
      return fail(request + " was dead-lettered: " + one_line(r.error));
    case reply_status::pending:
      break;
  }
  return fail("no reply to " + request + (waited.empty() ? " yet" : " within " + waited) +
                  "; fetch it later with: postbox reply " + r.request_id,
              exit_no_reply);
}

/// Waiting for replies: LISTEN unless behind a transaction-mode pooler (then polling).
reply_wait reply_wait_for(const invocation& inv, std::chrono::milliseconds timeout) {
  reply_wait w;
  w.timeout = timeout;
  w.listen = !(inv.topo && inv.topo->database.pooler == "transaction");
  return w;
}

int cmd_ask(const invocation& inv) {
  auto o = parse_options(
      inv.args, {"--queue", "--type", "--json-payload", "--headers", "--timeout", "--request-id"},
      {});
  if (!o.error.empty() || !o.positional.empty())
    return fail("ask: " + (o.error.empty() ? "unexpected '" + o.positional[0] + "'" : o.error), 2);
  for (const char* required : {"--queue", "--type", "--json-payload"})
    if (!o.values.count(required)) return fail(std::string("ask needs ") + required, 2);
  std::string waited = o.get("--timeout", "30s");
  auto timeout = parse_duration(waited);
  if (!timeout) return fail("ask: --timeout: " + describe(timeout.error()), 2);
  ask_options options;
  options.headers = o.get("--headers", "{}");
  options.request_id = o.get("--request-id");
  options.wait = reply_wait_for(inv, *timeout);
  client c{session_for(inv)};
  auto r = c.ask(o.get("--queue"), o.get("--type"), o.get("--json-payload"), options);
  if (!r) return fail(r.error(), "ask failed");
  return print_reply(inv, *r, waited);
}

int cmd_reply(const invocation& inv) {
  auto o = parse_options(inv.args, {"--wait"}, {});
  if (!o.error.empty()) return fail("reply: " + o.error, 2);
  if (o.positional.size() != 1) return fail("reply needs exactly one REQUEST_ID", 2);
  std::string waited = o.get("--wait");
  std::chrono::milliseconds wait{0};
  if (!waited.empty()) {
    auto d = parse_duration(waited);
    if (!d) return fail("reply: --wait: " + describe(d.error()), 2);
    wait = *d;
  }
  client c{session_for(inv)};
  auto r = c.fetch_reply(o.positional[0], reply_wait_for(inv, wait));
  if (!r) return fail(r.error(), "reply failed");
  return print_reply(inv, *r, waited);
}

/// pause / resume / drain: through the first node's control actor that answers.
int cmd_control(const invocation& inv) {
  if (inv.args.size() != 1)
    return fail(inv.command + " needs exactly one " + (inv.command == "drain" ? "NODE" : "QUEUE"),
                2);
  client c{session_for(inv)};
  auto targets = control_targets(inv.topo ? &*inv.topo : nullptr, c.inspect());
  if (inv.command == "drain") {
    targets.erase(std::remove_if(targets.begin(), targets.end(),
                                 [&](const control_target& t) { return t.node != inv.args[0]; }),
                  targets.end());
    if (targets.empty())
      return fail("no node '" + inv.args[0] + "' with a control actor (see postbox nodes)");
  }
  control_client control{inv.topo ? inv.topo->control : control_config{},
                         client_control_token(inv.topo ? &*inv.topo : nullptr)};
  auto node = control.connect(targets);
  if (!node) return fail(node.error(), inv.command + " failed");
  auto r = inv.command == "pause"    ? control.pause(inv.args[0])
           : inv.command == "resume" ? control.resume(inv.args[0])
                                     : control.drain();
  if (!r) return fail(r.error(), inv.command + " failed");
  if (inv.json)
    std::cout << json::serialize(json::object{{"node", *node}, {"result", *r}}) << "\n";
  else
    std::cout << *r << "\n";
  return 0;
}

}  // namespace

int run(int argc, char** argv) {
  invocation inv;
  if (const char* env = std::getenv("POSTBOX_DSN")) inv.dsn = env;
  if (const char* env = std::getenv("POSTBOX_TOPOLOGY")) inv.topology_path = env;
  int i = 1;
  for (; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--help" || a == "-h") {
      std::cout << usage;
      return 0;
    } else if (a == "--version") {
      std::cout << version_line("postbox") << "\n";
      return 0;
    } else if (a == "--json") {
      inv.json = true;
    } else if (a == "--dsn" || a == "--topology") {
      if (i + 1 >= argc) return fail(a + " needs a value", 2);
      (a == "--dsn" ? inv.dsn : inv.topology_path) = argv[++i];
    } else if (!a.empty() && a[0] == '-') {
      return fail("unknown option " + a + " (see postbox --help)", 2);
    } else {
      break;
    }
  }
  if (i >= argc) return fail("no command given (see postbox --help)", 2);
  inv.command = argv[i++];
  for (; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--json")
      inv.json = true;
    else
      inv.args.push_back(a);
  }
  using handler = int (*)(const invocation&);
  const std::vector<std::pair<std::string, handler>> commands = {
      {"migrate", cmd_migrate}, {"submit", cmd_submit},  {"status", cmd_status},
      {"watch", cmd_watch},     {"cancel", cmd_cancel},  {"executions", cmd_executions},
      {"queues", cmd_queues},   {"nodes", cmd_nodes},    {"dead-letters", cmd_dead_letters},
      {"send", cmd_send},       {"ask", cmd_ask},        {"reply", cmd_reply},
      {"pause", cmd_control},   {"resume", cmd_control}, {"drain", cmd_control}};
  auto cmd = std::find_if(commands.begin(), commands.end(),
                          [&](const auto& c) { return c.first == inv.command; });
  if (cmd == commands.end())
    return fail("unknown command '" + inv.command + "' (see postbox --help)", 2);
  // --dsn also fills ${POSTBOX_DSN} in the topology (as the variable would).
  if (!inv.dsn.empty()) ::setenv("POSTBOX_DSN", inv.dsn.c_str(), 0);
  if (!inv.topology_path.empty()) {
    auto topo = load_topology_file(inv.topology_path);
    if (!topo) return fail(describe(topo.error()), 2);
    if (inv.dsn.empty()) {
      auto dsn = effective_dsn(topo->database);
      if (!dsn) return fail(describe(dsn.error()), 2);
      inv.dsn = *dsn;
    }
    inv.topo = std::move(*topo);
  }
  if (inv.dsn.empty())
    return fail("no database: pass --dsn, set POSTBOX_DSN, or give a --topology", 2);
  return cmd->second(inv);
}

}  // namespace postbox::cli

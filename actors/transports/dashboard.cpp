#include "actors/transports/dashboard.hpp"

#include <algorithm>
#include <chrono>
#include <ctime>
#include <iomanip>
#include <sstream>
#include <utility>
#include <vector>

#include "actors/transports/secrets.hpp"
#include "persistence/actor_store.hpp"
#include "persistence/execution_store.hpp"
#include "persistence/inspect_store.hpp"
#include "persistence/schedule_store.hpp"

namespace postbox {

namespace {

std::string esc(const std::string& s) {
  std::string out;
  for (char c : s) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      case '\'':
        out += "&#39;";
        break;
      default:
        out += c;
    }
  }
  return out;
}

std::string url_escape(const std::string& s) {
  std::ostringstream out;
  for (unsigned char c : s) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~')
      out << c;
    else
      out << '%' << std::uppercase << std::hex << std::setw(2) << std::setfill('0')
          << static_cast<int>(c) << std::nouppercase << std::dec;
  }
  return out.str();
}

std::string page(const dashboard_env& env, const std::string& title, const std::string& body,
                 bool refresh) {
  std::ostringstream out;
  out << "<!doctype html><html><head><meta charset=\"utf-8\">";
  if (refresh) out << "<meta http-equiv=\"refresh\" content=\"5\">";
  out << "<title>" << esc(title) << "</title><style>"
      << "body{font-family:sans-serif;margin:2em;color:#222}table{border-collapse:collapse;"
         "margin-bottom:1.5em}td,th{padding:.25em .7em;border-bottom:1px solid #ddd;"
         "text-align:left;vertical-align:top}.bar{background:#eee;width:120px;height:.8em;"
         "display:inline-block}.bar span{background:#4a4;height:100%;display:block}"
         ".ERROR,.bad{color:#b00}.STOPPED{color:#a60}.COMPLETED{color:#070}form{display:inline}"
         ".notice{background:#ffd;padding:.5em}</style></head><body>"
      << "<h1><a href=\"/\">postbox</a> · node " << esc(env.node_name) << " (" << esc(env.cluster)
      << ")</h1>";
  const std::string h = env.health ? env.health() : "";
  out << "<p class=\"" << (h.empty() ? "ok" : "bad") << "\" id=\"health\">"
      << (h.empty() ? "healthy" : esc(h)) << "</p>";
  if (!env.actions_off.empty())
    out << "<p class=\"notice\" id=\"actions-off\">Actions are off: " << esc(env.actions_off)
        << "</p>";
  out << body << "</body></html>";
  return out.str();
}

/// A POST form with one button, its fields, its CSRF field, and the token field when
/// the node requires one; nothing when actions are off.
std::string action(const dashboard_env& env, const std::string& path,
                   const std::vector<std::pair<std::string, std::string>>& fields,
                   const std::string& label, const std::string& id) {
  if (!env.actions_off.empty()) return "";
  std::ostringstream out;
  out << "<form method=\"post\" action=\"" << path << "\">";
  for (const auto& [field, value] : fields)
    out << "<input type=\"hidden\" name=\"" << field << "\" value=\"" << esc(value) << "\">";
  out << "<input type=\"hidden\" name=\"csrf\" value=\"" << esc(env.csrf) << "\">";
  if (!env.token.empty())
    out << "<input type=\"password\" name=\"token\" placeholder=\"token\" size=\"8\">";
  out << "<button type=\"submit\" id=\"" << esc(id) << "\">" << esc(label) << "</button></form>";
  return out.str();
}

std::string action(const dashboard_env& env, const std::string& path, const std::string& field,
                   const std::string& value, const std::string& label, const std::string& id) {
  return action(env, path, {{field, value}}, label, id);
}

/// Keyed actors held by a poisoned head (on_poison: hold), with retry and skip.
std::string blocked_actors(dashboard_env& env) {
  actor_store actors{*env.session};
  auto blocked = actors.list(true, "", 50);
  std::ostringstream out;
  out << "<h2>Blocked actors</h2>";
  if (!blocked) {
    out << "<p class=\"bad\">blocked actors: " << esc(describe(blocked.error())) << "</p>";
    return out.str();
  }
  out << "<table id=\"blocked-actors\"><tr><th>actor type</th><th>key</th><th>head</th>"
         "<th>queued</th><th>blocked for</th><th>reason</th><th></th></tr>";
  const double now =
      std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
  for (const auto& a : *blocked) {
    const std::string id = a.actor_type + "/" + a.actor_key;
    out << "<tr><td>" << esc(a.actor_type) << "</td><td>" << esc(a.actor_key) << "</td><td>"
        << a.head_id << "</td><td>" << a.backlog << "</td><td>"
        << static_cast<int64_t>(std::max(0.0, now - a.blocked_since)) << "s</td><td>"
        << esc(a.blocked_reason) << "</td><td>";
    const std::vector<std::pair<std::string, std::string>> fields{{"actor_type", a.actor_type},
                                                                  {"actor_key", a.actor_key}};
    out << action(env, "/actions/actor-retry", fields, "retry", "actor-retry-" + id)
        << action(env, "/actions/actor-skip", fields, "skip", "actor-skip-" + id) << "</td></tr>";
  }
  out << "</table>";
  return out.str();
}

/// Cron schedules: cron, zone, next and last tick, state, ticks sent and missed.
std::string schedules_table(dashboard_env& env) {
  schedule_store store{*env.session};
  auto list = store.list(schedule_stale_ms);
  std::ostringstream out;
  out << "<h2>Schedules</h2>";
  if (!list) {
    out << "<p class=\"bad\">schedules: " << esc(describe(list.error())) << "</p>";
    return out.str();
  }
  auto utc = [](const std::optional<int64_t>& ms) -> std::string {
    if (!ms) return "-";
    std::time_t secs = static_cast<std::time_t>(*ms / 1000);
    std::tm tm{};
    gmtime_r(&secs, &tm);
    char buf[32];
    std::strftime(buf, sizeof buf, "%Y-%m-%d %H:%M:%SZ", &tm);
    return buf;
  };
  out << "<table id=\"schedules\"><tr><th>name</th><th>cron</th><th>zone</th><th>next tick</th>"
         "<th>last tick</th><th>state</th><th>sent</th><th>missed</th></tr>";
  for (const auto& s : *list) {
    const std::string state = !s.error.empty() ? "error: " + s.error
                              : s.paused       ? "paused"
                              : s.stale        ? "stale"
                                               : "active";
    out << "<tr><td>" << esc(s.name) << "</td><td>" << esc(s.cron) << "</td><td>" << esc(s.timezone)
        << "</td><td>" << utc(s.next_tick) << "</td><td>" << utc(s.last_tick) << "</td><td>"
        << esc(state) << "</td><td>" << s.sent << "</td><td>" << s.missed << "</td></tr>";
  }
  out << "</table>";
  return out.str();
}

std::string progress(const execution_record& e) {
  const int pct = e.files_total > 0 ? (100 * (e.files_done + e.files_failed)) / e.files_total : 0;
  std::ostringstream out;
  out << "<span class=\"bar\"><span style=\"width:" << pct << "%\"></span></span> " << e.files_done
      << "/" << e.files_total;
  if (e.files_failed > 0) out << " (" << e.files_failed << " failed)";
  return out.str();
}

std::string overview(dashboard_env& env, const std::map<std::string, std::string>& q) {
  inspect_store inspect{*env.session};
  std::ostringstream out;
  if (auto it = q.find("notice"); it != q.end())
    out << "<p class=\"notice\" id=\"notice\">" << esc(it->second) << "</p>";
  std::optional<std::string> status, workflow;
  if (auto it = q.find("status"); it != q.end() && !it->second.empty()) status = it->second;
  if (auto it = q.find("workflow"); it != q.end() && !it->second.empty()) workflow = it->second;
  out << "<h2>Executions</h2><form method=\"get\" action=\"/\">status <select name=\"status\">"
      << "<option value=\"\">any</option>";
  for (const char* s : {"QUEUED", "EXECUTING", "COMPLETED", "ERROR", "STOPPED"})
    out << "<option" << (status && *status == s ? " selected" : "") << ">" << s << "</option>";
  out << "</select> workflow <input name=\"workflow\" value=\"" << esc(workflow.value_or(""))
      << "\" size=\"10\"> <button type=\"submit\">filter</button></form>";
  auto es = inspect.executions(status, workflow, 50);
  if (!es) {
    out << "<p class=\"bad\">executions: " << esc(describe(es.error())) << "</p>";
  } else {
    out << "<table id=\"executions\"><tr><th>execution</th><th>workflow</th><th>status</th>"
           "<th>progress</th><th>error</th><th></th></tr>";
    for (const auto& e : *es) {
      const std::string st = to_string(e.status);
      out << "<tr><td><a href=\"/executions/" << url_escape(e.id) << "\">" << esc(e.id)
          << "</a></td><td>" << esc(e.workflow) << "</td><td class=\"" << st << "\">" << st
          << "</td><td>" << progress(e) << "</td><td>" << esc(e.error) << "</td><td>";
      if (!is_terminal(e.status))
        out << action(env, "/actions/cancel", "execution", e.id, "cancel", "cancel-" + e.id);
      out << "</td></tr>";
    }
    out << "</table>";
  }
  if (auto qs = inspect.queues()) {
    out << "<h2>Queues</h2><table id=\"queues\"><tr><th>queue</th><th>ready</th>"
           "<th>ready urgent/high/normal/low</th>"
           "<th>in flight</th><th>delayed</th><th>oldest ready</th><th>dead letters</th>"
           "<th>dedup keys</th><th></th></tr>";
    for (const auto& x : *qs) {
      const auto& t = x.ready_by_priority;
      out << "<tr><td>" << esc(x.queue) << "</td><td>" << x.ready << "</td><td>" << t[3] << "/"
          << t[2] << "/" << t[1] << "/" << t[0] << "</td><td>" << x.in_flight << "</td><td>"
          << x.delayed << "</td><td>" << std::fixed << std::setprecision(1) << x.oldest_age_s
          << "s</td><td>" << x.dead << "</td><td>" << x.dedup_keys << "</td><td>";
      if (x.dead > 0)
        out << action(env, "/actions/retry-queue", "queue", x.queue, "retry all dead letters",
                      "retry-queue-" + x.queue);
      out << "</td></tr>";
    }
    out << "</table>";
  }
  // Limits (topology queues.<q> max_in_flight/rate, limits.<key>): slots in use, waits.
  if (auto ls = inspect.limits(); ls && !ls->empty()) {
    out << "<h2>Limits</h2><table id=\"limits\"><tr><th>limit</th><th>slots in use</th>"
           "<th>rate</th><th>throttled</th><th>waiting for a slot</th></tr>";
    for (const auto& l : *ls) {
      out << "<tr><td>" << esc(l.scope + " " + l.key) << "</td><td>";
      if (l.max_in_flight > 0)
        out << l.in_use << " / " << l.max_in_flight;
      else
        out << "-";
      out << "</td><td>";
      if (l.rate > 0)
        out << std::defaultfloat << l.rate << "/s, burst " << l.burst;
      else
        out << "-";
      out << "</td><td>" << l.throttled << "</td><td>" << l.waiting_slot << "</td></tr>";
    }
    out << "</table>";
  }
  out << blocked_actors(env);
  out << schedules_table(env);
  if (auto ds = inspect.dead_letters(50)) {
    out << "<h2>Dead letters</h2><table id=\"dead-letters\"><tr><th>id</th><th>queue</th>"
           "<th>type</th><th>execution</th><th>reason</th><th></th></tr>";
    for (const auto& d : *ds) {
      out << "<tr><td>" << d.id << "</td><td>" << esc(d.queue) << "</td><td>" << esc(d.type)
          << "</td><td>" << esc(d.execution_id) << "</td><td>" << esc(d.reason) << "</td><td>";
      if (d.retried_as == 0)
        out << action(env, "/actions/retry", "dead_letter", std::to_string(d.id), "retry",
                      "retry-" + std::to_string(d.id));
      else
        out << "retried as message " << d.retried_as;
      out << "</td></tr>";
    }
    out << "</table>";
  }
  if (auto ns = inspect.nodes()) {
    out << "<h2>Nodes</h2><table id=\"nodes\"><tr><th>node</th><th>host</th><th>heartbeat</th>"
           "<th>roles</th></tr>";
    for (const auto& n : *ns)
      out << "<tr><td>" << esc(n.name) << (n.leader ? " <b>(reaper leader)</b>" : "") << "</td><td>"
          << esc(n.host) << "</td><td>" << static_cast<int>(n.heartbeat_age_s) << "s ago</td><td>"
          << esc(n.roles) << "</td></tr>";
    out << "</table>";
  }
  return out.str();
}

std::string execution_page(dashboard_env& env, const std::string& id, int& status) {
  execution_store executions{*env.session};
  inspect_store inspect{*env.session};
  auto e = executions.progress(id);
  std::ostringstream out;
  if (!e) {
    status = is(e.error(), errc::not_found) ? 404 : 500;
    out << "<p class=\"bad\">" << esc(describe(e.error())) << "</p>";
    return out.str();
  }
  const std::string st = to_string(e->status);
  out << "<h2>Execution " << esc(e->id) << "</h2><table id=\"execution\"><tr><th>workflow</th><td>"
      << esc(e->workflow) << "</td></tr><tr><th>status</th><td class=\"" << st << "\">" << st
      << "</td></tr><tr><th>progress</th><td>" << progress(*e) << "</td></tr><tr><th>error</th><td>"
      << esc(e->error) << "</td></tr></table>";
  if (!is_terminal(e->status))
    out << action(env, "/actions/cancel", "execution", e->id, "cancel", "cancel-" + e->id);
  if (auto bs = inspect.execution_batches(id)) {
    out << "<h3>Batches</h3><table id=\"batches\"><tr><th>batch</th><th>done</th><th>failed</th>"
           "</tr>";
    for (const auto& b : *bs)
      out << "<tr><td>" << b.index << "</td><td>" << b.done << "</td><td>" << b.failed
          << "</td></tr>";
    out << "</table>";
  }
  if (auto fs = inspect.failed_files(id, 200)) {
    out << "<h3>Failed files</h3><table id=\"failed-files\"><tr><th>file</th><th>batch</th>"
           "<th>error</th></tr>";
    for (const auto& f : *fs)
      out << "<tr><td>" << esc(f.file_key) << "</td><td>" << f.batch_index << "</td><td>"
          << esc(f.error) << "</td></tr>";
    out << "</table>";
  }
  return out.str();
}

/// Back to the overview with a one-line notice (Post/Redirect/Get).
http_reply see_other(const std::string& notice) {
  http_reply r;
  r.status = 303;
  r.content_type = "text/plain";
  r.location = "/?notice=" + url_escape(notice);
  r.body = notice + "\n";
  return r;
}

/// Why this action must not run, or "": it comes from the dashboard's own page
/// (Origin), from a browser that loaded it (the CSRF cookie and field), and has the
/// control token when one is configured. Every secret is compared in constant time.
std::string refusal(const http_request& req, std::map<std::string, std::string>& form,
                    const dashboard_env& env) {
  if (auto why = cross_origin(req); !why.empty()) return why;
  if (!env.actions_off.empty()) return "actions are off: " + env.actions_off;
  const std::string cookie = cookie_value(req, env.csrf_cookie);
  if (env.csrf.empty() || !same_secret(cookie, env.csrf) || !same_secret(form["csrf"], env.csrf))
    return "the CSRF token is missing or stale: reload the dashboard and try again";
  if (!env.token.empty() && !same_secret(form["token"], env.token))
    return "a valid control token is required for dashboard actions";
  return "";
}

http_reply act(const http_request& req, dashboard_env& env) {
  auto form = decode_form(req.body);
  if (auto why = refusal(req, form, env); !why.empty()) return {403, "text/plain", why + "\n"};
  if (req.target == "/actions/cancel") {
    const std::string id = form["execution"];
    if (id.empty()) return {400, "text/plain", "missing: execution\n"};
    if (!env.cancel) return {501, "text/plain", "cancel is not available\n"};
    auto r = env.cancel(id);
    return see_other(r ? *r : "cancel " + id + ": " + describe(r.error()));
  }
  inspect_store inspect{*env.session};
  if (req.target == "/actions/retry") {
    const std::string id = form["dead_letter"];
    char* end = nullptr;
    const long long n = std::strtoll(id.c_str(), &end, 10);
    if (id.empty() || *end != '\0') return {400, "text/plain", "missing: dead_letter\n"};
    auto r = inspect.dead_letter_retry(n);
    return see_other(r ? "dead letter " + id + " retried as message " + std::to_string(*r)
                       : "retry " + id + ": " + describe(r.error()));
  }
  if (req.target == "/actions/retry-queue") {
    const std::string queue = form["queue"];
    if (queue.empty()) return {400, "text/plain", "missing: queue\n"};
    auto r = inspect.dead_letters_retry_queue(queue);
    return see_other(r ? std::to_string(*r) + " dead letter(s) of queue " + queue + " retried"
                       : "retry queue " + queue + ": " + describe(r.error()));
  }
  for (const char* verb : {"retry", "skip"}) {
    if (req.target != std::string("/actions/actor-") + verb) continue;
    const std::string type = form["actor_type"], key = form["actor_key"];
    if (type.empty() || key.empty()) return {400, "text/plain", "missing: actor_type, actor_key\n"};
    if (!env.actor_action) return {501, "text/plain", "actor actions are not available\n"};
    auto r = env.actor_action(verb, type, key);
    return see_other(r ? *r
                       : std::string(verb) + " " + type + "/" + key + ": " + describe(r.error()));
  }
  return {404, "text/plain", "not found\n"};
}

}  // namespace

std::map<std::string, std::string> decode_form(const std::string& text) {
  std::map<std::string, std::string> out;
  auto decode = [](const std::string& s) {
    std::string r;
    for (std::size_t i = 0; i < s.size(); ++i) {
      if (s[i] == '+') {
        r += ' ';
      } else if (s[i] == '%' && i + 2 < s.size() && std::isxdigit(s[i + 1]) &&
                 std::isxdigit(s[i + 2])) {
        r += static_cast<char>(std::stoi(s.substr(i + 1, 2), nullptr, 16));
        i += 2;
      } else {
        r += s[i];
      }
    }
    return r;
  };
  std::size_t start = 0;
  while (start <= text.size()) {
    std::size_t amp = text.find('&', start);
    std::string pair =
        text.substr(start, amp == std::string::npos ? std::string::npos : amp - start);
    if (!pair.empty()) {
      auto eq = pair.find('=');
      out[decode(pair.substr(0, eq))] = eq == std::string::npos ? "" : decode(pair.substr(eq + 1));
    }
    if (amp == std::string::npos) break;
    start = amp + 1;
  }
  return out;
}

namespace {

/// A page: it (re)sets the CSRF cookie its forms pair with, and may not be framed
/// (a framed page could be clicked through).
http_reply html(const dashboard_env& env, int status, std::string body) {
  http_reply r{status, "text/html; charset=utf-8", std::move(body)};
  r.headers = {
      {"Set-Cookie", env.csrf_cookie + "=" + env.csrf + "; Path=/; SameSite=Strict; HttpOnly"},
      {"X-Frame-Options", "DENY"},
      {"Content-Security-Policy", "frame-ancestors 'none'"},
      {"Referrer-Policy", "same-origin"}};
  return r;
}

bool is_dashboard_path(const std::string& path) {
  return path == "/" || path == "/index.html" || path.rfind("/executions/", 0) == 0 ||
         path.rfind("/actions/", 0) == 0;
}

}  // namespace

std::optional<http_reply> dashboard_route(const http_request& req, dashboard_env& env) {
  const auto qmark = req.target.find('?');
  const std::string path = req.target.substr(0, qmark);
  if (!is_dashboard_path(path)) return std::nullopt;
  // Before anything else, reads included: a page fetched through a rebound DNS name
  // would hand its execution ids (and CSRF token) to another site.
  if (auto why = foreign_host(req, env.names); !why.empty())
    return http_reply{403, "text/plain", why + "\n"};
  const auto query = decode_form(qmark == std::string::npos ? "" : req.target.substr(qmark + 1));
  if (path.rfind("/actions/", 0) == 0) {
    if (req.method != "POST") return http_reply{405, "text/plain", "use POST\n"};
    return act(req, env);
  }
  if (req.method != "GET" && req.method != "HEAD") return std::nullopt;
  if (path == "/" || path == "/index.html")
    return html(env, 200, page(env, "postbox " + env.node_name, overview(env, query), true));
  const std::string id = decode_form("x=" + path.substr(12))["x"];
  int status = 200;
  auto body = execution_page(env, id, status);
  return html(env, status, page(env, "execution " + id, body, status == 200));
}

}  // namespace postbox

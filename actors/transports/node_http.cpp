// Routes of the node's HTTP endpoint. Database reads use one session of their
// own, serialized by a mutex (requests are rare: scrapes and a dashboard).
#include "actors/transports/node_http.hpp"

#include <mutex>
#include <sstream>

#include "actors/transports/http_server.hpp"
#include "persistence/inspect_store.hpp"

namespace postbox {

namespace {

std::string html_escape(const std::string& s) {
  std::string out;
  for (char c : s) {
    switch (c) {
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '&':
        out += "&amp;";
        break;
      case '"':
        out += "&quot;";
        break;
      default:
        out += c;
    }
  }
  return out;
}

struct endpoint_state {
  runtime_ptr rt;
  std::mutex mtx;
  std::unique_ptr<pg_session> session;
};

std::string queue_metrics(endpoint_state& st) {
  std::lock_guard<std::mutex> guard{st.mtx};
  inspect_store inspect{*st.session};
  auto qs = inspect.queues();
  std::ostringstream out;
  out << "# HELP postbox_queue_messages Messages in the mailbox, by queue and state.\n"
         "# TYPE postbox_queue_messages gauge\n";
  if (!qs) return out.str() + "# queue metrics unavailable: " + describe(qs.error()) + "\n";
  for (const auto& q : *qs) {
    out << "postbox_queue_messages{queue=\"" << q.queue << "\",state=\"ready\"} " << q.ready << "\n"
        << "postbox_queue_messages{queue=\"" << q.queue << "\",state=\"in_flight\"} " << q.in_flight
        << "\n"
        << "postbox_queue_messages{queue=\"" << q.queue << "\",state=\"delayed\"} " << q.delayed
        << "\n"
        << "postbox_queue_messages{queue=\"" << q.queue << "\",state=\"dead\"} " << q.dead << "\n";
  }
  out << "# HELP postbox_queue_oldest_age_seconds Age of the oldest message per queue.\n"
         "# TYPE postbox_queue_oldest_age_seconds gauge\n";
  for (const auto& q : *qs)
    out << "postbox_queue_oldest_age_seconds{queue=\"" << q.queue << "\"} " << q.oldest_age_s
        << "\n";
  return out.str();
}

std::string dashboard(endpoint_state& st) {
  std::string why;
  bool ok = st.rt->metrics->healthy(why);
  std::ostringstream out;
  out << "<!doctype html><html><head><meta charset=\"utf-8\"><meta http-equiv=\"refresh\" "
         "content=\"2\"><title>postbox "
      << html_escape(st.rt->node_name)
      << "</title><style>body{font-family:sans-serif;margin:2em}table{border-collapse:collapse}"
         "td,th{padding:.2em .8em;border-bottom:1px solid #ddd;text-align:left}</style></head>"
         "<body><h1>postbox node "
      << html_escape(st.rt->node_name) << " (" << html_escape(st.rt->topo.cluster) << ")</h1><p>"
      << (ok ? "healthy" : "UNHEALTHY: " + html_escape(why)) << "</p>";
  std::lock_guard<std::mutex> guard{st.mtx};
  inspect_store inspect{*st.session};
  if (auto qs = inspect.queues()) {
    out << "<h2>Queues</h2><table><tr><th>queue</th><th>ready</th><th>in flight</th>"
           "<th>delayed</th><th>dead</th></tr>";
    for (const auto& q : *qs)
      out << "<tr><td>" << html_escape(q.queue) << "</td><td>" << q.ready << "</td><td>"
          << q.in_flight << "</td><td>" << q.delayed << "</td><td>" << q.dead << "</td></tr>";
    out << "</table>";
  }
  if (auto es = inspect.executions(std::nullopt, std::nullopt, 10)) {
    out << "<h2>Executions</h2><table><tr><th>execution</th><th>workflow</th><th>status</th>"
           "<th>done</th><th>failed</th><th>error</th></tr>";
    for (const auto& e : *es)
      out << "<tr><td>" << html_escape(e.id) << "</td><td>" << html_escape(e.workflow)
          << "</td><td>" << to_string(e.status) << "</td><td>" << e.files_done << "/"
          << e.files_total << "</td><td>" << e.files_failed << "</td><td>" << html_escape(e.error)
          << "</td></tr>";
    out << "</table>";
  }
  if (auto ns = inspect.nodes()) {
    out << "<h2>Nodes</h2><table><tr><th>node</th><th>heartbeat</th><th>roles</th></tr>";
    for (const auto& n : *ns)
      out << "<tr><td>" << html_escape(n.name) << (n.leader ? " (reaper)" : "") << "</td><td>"
          << static_cast<int>(n.heartbeat_age_s) << "s ago</td><td>" << html_escape(n.roles)
          << "</td></tr>";
    out << "</table>";
  }
  out << "</body></html>";
  return out.str();
}

}  // namespace

caf::expected<std::unique_ptr<http_server>> start_node_http(runtime_ptr rt) {
  auto st = std::make_shared<endpoint_state>();
  st->rt = rt;
  st->session = std::make_unique<pg_session>(rt->session("postbox-http"));
  const auto& node = rt->node();
  auto server = std::make_unique<http_server>(
      node.host, node.http_port, [st](const http_request& req) -> http_reply {
        if (req.target == "/healthz") {
          std::string why;
          if (st->rt->metrics->healthy(why)) return {200, "text/plain", "ok\n"};
          return {503, "text/plain", "unhealthy: " + why + "\n"};
        }
        if (req.target == "/metrics")
          return {200, "text/plain; version=0.0.4",
                  "postbox_node_up{node=\"" + st->rt->node_name + "\"} 1\n" +
                      st->rt->metrics->prometheus() + queue_metrics(*st)};
        if (req.target == "/" || req.target == "/index.html")
          return {200, "text/html; charset=utf-8", dashboard(*st)};
        return {404, "text/plain", "not found\n"};
      });
  if (auto err = server->start()) return err;
  return server;
}

}  // namespace postbox

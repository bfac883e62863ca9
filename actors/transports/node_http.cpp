// Routes of the node's HTTP endpoint. /healthz is answered on the server's I/O
// thread from the node's own state, so it never waits for the database. The rest
// runs on the server's workers: the dashboard's reads use one session (statement
// timeout), serialized by a mutex that a request waits for only so long; /metrics
// reads its gauges on another, on a thread of its own with a deadline.
#include "actors/transports/node_http.hpp"

#include <algorithm>
#include <cctype>
#include <condition_variable>
#include <mutex>
#include <postbox/priority.hpp>
#include <set>
#include <sstream>
#include <thread>

#include "actors/runtime/actor_operations.hpp"
#include "actors/runtime/prometheus_text.hpp"
#include "actors/transports/control.hpp"
#include "actors/transports/dashboard.hpp"
#include "actors/transports/http_server.hpp"
#include "actors/transports/same_origin.hpp"
#include "actors/transports/secrets.hpp"
#include "persistence/execution_store.hpp"
#include "persistence/metrics_store.hpp"

namespace postbox {

namespace {

/// Cluster gauges read from the database, one read at a time on a thread of their
/// own: a scrape waits for it at most scrape_wait, so an unreachable or slow database
/// never hangs /metrics (that scrape says postbox_database_up 0 instead). A read still
/// running when the next scrape comes is waited for, not doubled.
struct gauge_reader {
  static constexpr std::chrono::milliseconds statement_timeout{2000};
  static constexpr std::chrono::milliseconds scrape_wait{3000};

  std::vector<std::string> queues;  // always shown
  std::unique_ptr<pg_session> session;
  std::mutex mtx;
  std::condition_variable done;
  bool running = false;
  uint64_t reads = 0;  // completed
  caf::expected<cluster_gauges> last{caf::error{}};
  double last_seconds = 0;

  /// The outcome of a read that ended after this call began, or an error.
  static caf::expected<cluster_gauges> read(const std::shared_ptr<gauge_reader>& self,
                                            double& seconds) {
    std::unique_lock<std::mutex> lock{self->mtx};
    const uint64_t before = self->reads;
    if (!self->running) {
      self->running = true;
      std::thread([self] {
        const auto started = std::chrono::steady_clock::now();
        metrics_store store{*self->session};
        auto r = store.gauges(self->queues, statement_timeout);
        std::lock_guard<std::mutex> guard{self->mtx};
        self->last = std::move(r);
        self->last_seconds =
            std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
        self->running = false;
        ++self->reads;
        self->done.notify_all();
      }).detach();
    }
    if (!self->done.wait_for(lock, scrape_wait, [&] { return self->reads > before; }))
      return make_error(errc::timeout, "the database did not answer within " +
                                           std::to_string(scrape_wait.count()) + "ms");
    seconds = self->last_seconds;
    return self->last;
  }
};

std::vector<std::string> topology_queues(const topology& t) {
  std::set<std::string> out;
  for (const auto& [name, _] : t.queues) out.insert(name);
  for (const auto& [_, n] : t.nodes)
    for (const auto& a : n.actors)
      if (!a.queue.empty()) out.insert(a.queue);
  for (const auto& [_, p] : t.programs)
    if (!p.queue.empty()) out.insert(p.queue);
  return {out.begin(), out.end()};
}

/// Every statement of the endpoint's sessions: a dashboard page is 4-5 of them.
constexpr std::chrono::milliseconds http_statement_timeout{2000};
/// How long a dashboard request waits for another one's database work before it
/// answers 503 (a worker must not queue forever behind a database that hangs).
constexpr std::chrono::milliseconds dashboard_wait{5000};

struct endpoint_state {
  runtime_ptr rt;
  std::timed_mutex mtx;
  std::unique_ptr<pg_session> session;  // the dashboard's
  dashboard_env dashboard;
  std::shared_ptr<gauge_reader> gauges;
};

/// The database's families: every one has HELP and TYPE, with samples only when
/// the read succeeded.
void write_cluster_gauges(prom::writer& out, const caf::expected<cluster_gauges>& g,
                          double seconds) {
  out.family("postbox_database_up", "gauge",
             "1 when this scrape read the database gauges below, 0 when the database did not "
             "answer in time (they are then absent).");
  out.sample("postbox_database_up", {}, g ? 1 : 0);
  out.family("postbox_database_scrape_duration_seconds", "gauge",
             "How long the database gauges took to read.");
  if (g) out.sample("postbox_database_scrape_duration_seconds", {}, seconds);
  auto per_queue = [&](const char* name, const char* help, auto value) {
    out.family(name, "gauge", help);
    if (g)
      for (const auto& q : g->queues) out.sample(name, {{"queue", q.queue}}, value(q));
  };
  per_queue("postbox_queue_depth", "Messages ready to be claimed now (cluster-wide).",
            [](const queue_gauges& q) { return static_cast<double>(q.ready); });
  per_queue("postbox_queue_in_flight", "Messages leased by a consumer (cluster-wide).",
            [](const queue_gauges& q) { return static_cast<double>(q.in_flight); });
  per_queue("postbox_queue_delayed",
            "Messages visible only later and not leased: retry backoff or a delayed send.",
            [](const queue_gauges& q) { return static_cast<double>(q.delayed); });
  per_queue("postbox_queue_oldest_ready_age_seconds",
            "How long the longest-waiting ready message has been claimable (0 when none is).",
            [](const queue_gauges& q) { return q.oldest_ready_age_s; });
  per_queue("postbox_dead_letters", "Dead letters not yet retried.",
            [](const queue_gauges& q) { return static_cast<double>(q.dead_letters); });
  auto per_tier = [&](const char* name, const char* help, auto value) {
    out.family(name, "gauge", help);
    if (g)
      for (const auto& t : g->tiers)
        out.sample(
            name,
            {{"queue", t.queue},
             {"priority", to_string(priority_from_int(t.priority).value_or(priority::normal))}},
            value(t));
  };
  per_tier("postbox_queue_ready",
           "Messages ready to be claimed now, per priority tier (claimed highest first).",
           [](const tier_gauges& t) { return static_cast<double>(t.ready); });
  per_tier("postbox_queue_oldest_wait_seconds",
           "How long the longest-waiting ready message of the tier has been claimable (0 when "
           "none is); aging moves it up a tier per priorities.aging_after.",
           [](const tier_gauges& t) { return t.oldest_ready_age_s; });
  auto per_actor_type = [&](const char* name, const char* help, auto value) {
    out.family(name, "gauge", help);
    if (g)
      for (const auto& a : g->actors) out.sample(name, {{"actor_type", a.actor_type}}, value(a));
  };
  per_actor_type("postbox_actor_keys_backlog",
                 "Keyed actors with messages queued (a head), by actor type (cluster-wide).",
                 [](const actor_gauges& a) { return static_cast<double>(a.keys_with_backlog); });
  per_actor_type("postbox_actor_keys_blocked",
                 "Keyed actors held by a poisoned head (on_poison: hold) until an operator "
                 "retries, skips or drops it, by actor type.",
                 [](const actor_gauges& a) { return static_cast<double>(a.blocked); });
  per_actor_type("postbox_actor_oldest_head_age_seconds",
                 "How long the oldest head of a key of this type has been waiting or running "
                 "(blocked heads included; 0 when no key has one).",
                 [](const actor_gauges& a) { return a.oldest_head_age_s; });
  auto per_schedule = [&](const char* name, const char* type, const char* help, auto value) {
    out.family(name, type, help);
    if (g)
      for (const auto& s : g->schedules) out.sample(name, {{"schedule", s.name}}, value(s));
  };
  per_schedule("postbox_schedule_next_tick_seconds", "gauge",
               "The next tick of a cron schedule (Unix time; 0 until a node computed it).",
               [](const schedule_gauges& s) { return s.next_tick; });
  per_schedule("postbox_schedule_last_tick_seconds", "gauge",
               "The last tick a cron schedule fired (Unix time; 0 before the first).",
               [](const schedule_gauges& s) { return s.last_tick; });
  per_schedule("postbox_schedule_ticks_sent_total", "counter",
               "Ticks of a cron schedule sent as a message (cluster-wide).",
               [](const schedule_gauges& s) { return static_cast<double>(s.sent); });
  per_schedule("postbox_schedule_ticks_skipped_total", "counter",
               "Ticks of a cron schedule not sent: missed (on_missed skip or all beyond its "
               "window) or overlapping (overlap: skip).",
               [](const schedule_gauges& s) { return static_cast<double>(s.skipped); });
  per_schedule("postbox_schedule_ticks_missed_total", "counter",
               "Ticks of a cron schedule not sent on their own (folded into a later one by "
               "on_missed once, or skipped).",
               [](const schedule_gauges& s) { return static_cast<double>(s.missed); });
  auto per_dedup_queue = [&](const char* name, const char* help, auto value) {
    out.family(name, "gauge", help);
    if (g)
      for (const auto& d : g->dedup) out.sample(name, {{"queue", d.queue}}, value(d));
  };
  per_dedup_queue("postbox_dedup_keys_live",
                  "Live messages holding a dedup key: a send with one of these keys is a "
                  "duplicate (cluster-wide, by queue).",
                  [](const dedup_gauges& d) { return static_cast<double>(d.live); });
  per_dedup_queue("postbox_dedup_ttl_windows",
                  "Dedup keys in ttl mode whose window has not ended (by queue).",
                  [](const dedup_gauges& d) { return static_cast<double>(d.windows); });
  auto per_limit = [&](const char* name, const char* help, auto value) {
    out.family(name, "gauge", help);
    if (g)
      for (const auto& l : g->limits)
        out.sample(name, {{"scope", l.scope}, {"key", l.key}}, value(l));
  };
  per_limit("postbox_limit_slots_in_use",
            "Slots of a max_in_flight limit held under a live lease (cluster-wide), by scope "
            "(queue or key) and key.",
            [](const limit_gauges& l) { return static_cast<double>(l.slots_in_use); });
  per_limit("postbox_limit_max_in_flight", "The limit's max_in_flight (0: none).",
            [](const limit_gauges& l) { return static_cast<double>(l.max_in_flight); });
  per_limit("postbox_limit_throttled", "Messages waiting for a token of the limit's rate.",
            [](const limit_gauges& l) { return static_cast<double>(l.throttled); });
  per_limit("postbox_limit_waiting_slot", "Messages waiting for a free slot of the limit.",
            [](const limit_gauges& l) { return static_cast<double>(l.waiting_slot); });
  out.family("postbox_claims_active", "gauge",
             "Orchestration claims held (executions started and not yet terminal).");
  if (g) out.sample("postbox_claims_active", {}, static_cast<double>(g->claims_active));
  out.family("postbox_outbox_pending", "gauge", "Outbox rows waiting for delivery, by kind.");
  if (g)
    for (const auto& o : g->outbox)
      out.sample("postbox_outbox_pending", {{"kind", o.kind}}, static_cast<double>(o.pending));
  out.family("postbox_outbox_failed", "gauge",
             "Outbox rows that gave up after max_attempts, by kind.");
  if (g)
    for (const auto& o : g->outbox)
      out.sample("postbox_outbox_failed", {{"kind", o.kind}}, static_cast<double>(o.failed));
}

std::string metrics_page(endpoint_state& st) {
  prom::writer out;
  out.family("postbox_node_up", "gauge", "1 while this node serves (labelled with its name).");
  out.sample("postbox_node_up", {{"node", st.rt->node_name}}, 1);
  st.rt->metrics->write(out);
  double seconds = 0;
  auto g = gauge_reader::read(st.gauges, seconds);
  write_cluster_gauges(out, g, seconds);
  if (!g) out.comment("database gauges unavailable: " + describe(g.error()));
  return out.str();
}

http_reply healthz(const runtime_config& rt) {
  std::string why;
  if (rt.metrics->healthy(why)) return {200, "text/plain", "ok\n"};
  return {503, "text/plain", "unhealthy: " + why + "\n"};
}

}  // namespace

caf::expected<std::unique_ptr<http_server>> start_node_http(runtime_ptr rt) {
  const auto& node = rt->node();
  auto st = std::make_shared<endpoint_state>();
  st->rt = rt;
  st->session = std::make_unique<pg_session>(rt->session("postbox-http", http_statement_timeout));
  st->dashboard.node_name = rt->node_name;
  st->dashboard.cluster = rt->topo.cluster;
  st->dashboard.session = st->session.get();
  st->dashboard.health = [rt]() -> std::string {
    std::string why;
    return rt->metrics->healthy(why) ? std::string() : "UNHEALTHY: " + why;
  };
  st->dashboard.cancel =
      [session = st->session.get()](const std::string& id) -> caf::expected<std::string> {
    auto r = execution_store{*session}.cancel(id);
    if (!r) return r.error();
    const std::string status = to_string(r->status);
    return r->cancelled ? "cancelled " + id + ": " + status
                        : "execution " + id + " was already " + status + ": nothing to cancel";
  };
  st->dashboard.actor_action = [session = st->session.get(),
                                who = "dashboard of node " + rt->node_name](
                                   const std::string& verb, const std::string& type,
                                   const std::string& key) -> caf::expected<std::string> {
    auto v = parse_actor_verb(verb);
    if (!v) return make_error(errc::invalid_argument, "unknown actor verb '" + verb + "'");
    auto r = act_on_blocked_actor(*session, *v, type, key, who);
    if (!r) return r.error();
    return r->text;
  };
  if (!rt->topo.control.token_env.empty() || !rt->topo.control.token_file.empty()) {
    auto token = control_token(rt->topo.control);
    if (!token) return token.error();
    st->dashboard.token = *token;
  }
  auto csrf = random_token();
  if (!csrf) return csrf.error();
  st->dashboard.csrf = *csrf;
  // Per port: two nodes on one host share a browser's cookie jar.
  st->dashboard.csrf_cookie = "postbox_csrf_" + std::to_string(node.http_port);
  auto bare = node.host;
  if (bare.size() > 2 && bare.front() == '[' && bare.back() == ']')
    bare = bare.substr(1, bare.size() - 2);
  std::transform(bare.begin(), bare.end(), bare.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  st->dashboard.names.hosts = {bare, "127.0.0.1", "localhost", "::1"};
  st->dashboard.names.port = node.http_port;
  if (st->dashboard.token.empty() && !is_loopback(node.host))
    st->dashboard.actions_off = "this endpoint listens on " + node.host +
                                ", beyond loopback, and the topology sets no control token "
                                "(control.token_env or control.token_file)";
  st->gauges = std::make_shared<gauge_reader>();
  st->gauges->queues = topology_queues(rt->topo);
  st->gauges->session =
      std::make_unique<pg_session>(rt->session("postbox-metrics", http_statement_timeout));
  http_server::options opts;
  opts.immediate = [rt](const http_request& req) -> std::optional<http_reply> {
    if (req.target == "/healthz") return healthz(*rt);
    return std::nullopt;
  };
  auto server = std::make_unique<http_server>(
      node.host, node.http_port,
      [st](const http_request& req) -> http_reply {
        if (req.target == "/metrics")
          return {200, "text/plain; version=0.0.4; charset=utf-8", metrics_page(*st)};
        std::unique_lock<std::timed_mutex> lock{st->mtx, std::defer_lock};
        if (!lock.try_lock_for(dashboard_wait)) {
          http_reply busy{503, "text/plain",
                          "the dashboard is still waiting for the database; try again\n"};
          busy.headers = {{"Retry-After", "5"}};
          return busy;
        }
        if (auto page = dashboard_route(req, st->dashboard)) return *page;
        return {404, "text/plain", "not found\n"};
      },
      std::move(opts));
  if (auto err = server->start()) return err;
  return server;
}

}  // namespace postbox

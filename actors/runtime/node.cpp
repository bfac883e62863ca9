// Wiring of a node process: topology -> migrations -> actor system -> supervisor;
// signals are taken by one thread (sigwait) and turned into a drain.
#include "actors/runtime/node.hpp"

#include <pthread.h>

#include <algorithm>
#include <caf/all.hpp>
#include <chrono>
#include <csignal>
#include <cstdlib>
#include <iostream>
#include <optional>
#include <sstream>
#include <thread>

#include "actors/runtime/actors.hpp"
#include "actors/runtime/atoms.hpp"
#include "actors/runtime/log.hpp"
#include "actors/runtime/program_handler.hpp"
#include "actors/transports/control.hpp"
#include "actors/transports/http_server.hpp"
#include "actors/transports/node_http.hpp"
#include "messages/type_ids.hpp"
#include "persistence/actor_store.hpp"
#include "persistence/limit_store.hpp"
#include "persistence/mailbox_store.hpp"
#include "persistence/migrator.hpp"
#include "persistence/node_registry_store.hpp"

namespace postbox {

namespace {

/// Starting rides out a database that cannot be reached (restarting, failing over,
/// not up yet) as running does: each step is retried with backoff until
/// `startup_timeout`, with one log line per failed try. Other errors end it at once.
struct startup_retry {
  std::chrono::steady_clock::time_point deadline;
  std::chrono::milliseconds timeout;
  std::chrono::milliseconds delay{250};
  int tries = 0;

  explicit startup_retry(std::chrono::milliseconds t)
      : deadline(std::chrono::steady_clock::now() + t), timeout(t) {}

  static bool retryable(const caf::error& err) {
    return is(err, errc::connection_lost) || is(err, errc::transient);
  }

  /// After a failed try of `what`: true (having waited) when it is worth another try.
  bool again(const std::string& what, const caf::error& err) {
    ++tries;
    if (!retryable(err)) return false;
    const auto now = std::chrono::steady_clock::now();
    if (now >= deadline) return false;
    const auto wait = std::min<std::chrono::steady_clock::duration>(delay, deadline - now);
    log_line(
        "postbox-node",
        what + " failed (try " + std::to_string(tries) + "): " + describe(err) + "; retrying in " +
            std::to_string(std::chrono::duration_cast<std::chrono::milliseconds>(wait).count()) +
            "ms (startup_timeout " + std::to_string(timeout.count() / 1000) + "s)");
    std::this_thread::sleep_for(wait);
    delay = std::min<std::chrono::milliseconds>(delay * 2, std::chrono::seconds(5));
    return true;
  }

  /// The end of the line for a retryable error: why we gave up.
  std::string gave_up(const caf::error& err) const {
    return retryable(err)
               ? " (still failing after " + std::to_string(tries) + " tries; startup_timeout " +
                     std::to_string(timeout.count() / 1000) + "s)"
               : "";
  }
};

/// Registers the node's name, refusing to run beside a live process of the same name
/// (heartbeat fresher than 3 intervals). A restart right after a crash waits for the
/// dead process's heartbeat to go stale; a live one keeps it fresh, so we give up.
int claim_node_name(const runtime_config& rt, startup_retry& retry) {
  const auto fresh_within = rt.node_alive_within();
  // Counted from the first answer: an outage before it must not eat the wait.
  std::optional<std::chrono::steady_clock::time_point> deadline;
  node_registration me;
  me.name = rt.node_name;
  me.host = rt.node().host;
  me.control_port = rt.node().control_port;
  me.http_port = rt.node().http_port;
  for (const auto& a : rt.node().actors) me.roles.push_back(a.role);
  me.pid = static_cast<int32_t>(::getpid());
  me.incarnation = rt.incarnation;
  // "queue:type" for every queue this node consumes: another node leaves those
  // messages for it, and dead-letters a type only when no node handles it there.
  for (const auto& a : rt.node().actors)
    if (!a.queue.empty())
      for (const auto& type : rt.handlers.types_for(a.queue))
        me.handled_types.push_back(a.queue + ":" + type);
  pg_session session{rt.session("postbox-node-register")};
  node_registry_store nodes{session};
  for (;;) {
    auto claim = nodes.register_node(me, fresh_within);
    if (!claim) {
      if (retry.again("registering node '" + rt.node_name + "'", claim.error())) continue;
      std::cerr << "postbox-node: cannot register node '" << rt.node_name
                << "': " << describe(claim.error()) << retry.gave_up(claim.error()) << "\n";
      return 1;
    }
    if (claim->registered) {
      // postbox.submit (SQL) refuses a workflow no node's topology has.
      std::vector<node_registry_store::workflow_row> workflows;
      for (const auto& [name, w] : rt.topo.workflows)
        workflows.push_back({name, w.processor, w.batch_size});
      auto err = nodes.record_workflows(rt.node_name, workflows);
      while (err && retry.again("recording the workflows of node '" + rt.node_name + "'", err))
        err = nodes.record_workflows(rt.node_name, workflows);
      if (err) {
        std::cerr << "postbox-node: cannot record the workflows of node '" << rt.node_name
                  << "': " << describe(err) << retry.gave_up(err) << "\n";
        return 1;
      }
      // Senders that name an actor type and no queue (SQL, CLI, continuations) find the
      // queue here; the poison policy is the topology's.
      std::map<std::string, std::string> on_poison;
      for (const auto& [type, queue] : rt.handlers.actor_types())
        on_poison[type] = rt.topo.actor_type(type).on_poison;
      actor_store actors{session};
      err = actors.register_types(rt.handlers.actor_types(), on_poison, rt.node_name);
      while (err && retry.again("recording the actor types of node '" + rt.node_name + "'", err))
        err = actors.register_types(rt.handlers.actor_types(), on_poison, rt.node_name);
      if (err) {
        std::cerr << "postbox-node: cannot record the actor types of node '" << rt.node_name
                  << "': " << describe(err) << retry.gave_up(err) << "\n";
        return 1;
      }
      // The topology's limits (queues.<q> and limits.<key>) with their slots.
      limit_store limits{session};
      err = limits.sync(rt.topo);
      while (err && retry.again("recording the limits of node '" + rt.node_name + "'", err))
        err = limits.sync(rt.topo);
      if (err) {
        std::cerr << "postbox-node: cannot record the limits of node '" << rt.node_name
                  << "': " << describe(err) << retry.gave_up(err) << "\n";
        return 1;
      }
      // A send that names no priority takes its type's tier from the topology.
      mailbox_store mailbox{session};
      err = mailbox.set_type_priorities(rt.topo.priorities.types, rt.node_name);
      while (err &&
             retry.again("recording the type priorities of node '" + rt.node_name + "'", err))
        err = mailbox.set_type_priorities(rt.topo.priorities.types, rt.node_name);
      if (err) {
        std::cerr << "postbox-node: cannot record the type priorities of node '" << rt.node_name
                  << "': " << describe(err) << retry.gave_up(err) << "\n";
        return 1;
      }
      return 0;
    }
    if (!deadline)
      deadline = std::chrono::steady_clock::now() + fresh_within + 2 * rt.heartbeat_interval;
    if (std::chrono::steady_clock::now() >= *deadline) {
      std::ostringstream age;
      age.precision(1);
      age << std::fixed << claim->heartbeat_age_s;
      std::cerr << "postbox-node: node '" << rt.node_name << "' is already running (pid "
                << claim->holder_pid << " on " << claim->holder_host << ", heartbeat " << age.str()
                << "s ago); refusing to start a second process with its name\n";
      return 1;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(250));
  }
}

}  // namespace

int run_node(const node_options& opts, handler_registry handlers) {
  // --dsn also fills ${POSTBOX_DSN} in the topology when that variable is unset.
  if (!opts.dsn.empty()) ::setenv("POSTBOX_DSN", opts.dsn.c_str(), 0);
  auto topo = load_topology_file(opts.topology_path);
  if (!topo) {
    std::cerr << "postbox-node: " << describe(topo.error()) << "\n";
    return 2;
  }
  if (!topo->node(opts.node_name)) {
    std::string names;
    for (const auto& [name, _] : topo->nodes) names += (names.empty() ? "" : ", ") + name;
    std::cerr << "postbox-node: " << topo->source << ": no node '" << opts.node_name
              << "' (nodes: " << names << ")\n";
    return 2;
  }
  if (auto err = register_programs(handlers, *topo, opts.node_name)) {
    std::cerr << "postbox-node: " << topo->source << ": " << detail_of(err) << "\n";
    return 2;
  }
  auto rt = std::make_shared<runtime_config>();
  rt->topo = std::move(*topo);
  rt->node_name = opts.node_name;
  rt->handlers = std::move(handlers);
  rt->incarnation = opts.node_name + ":" + std::to_string(::getpid()) + ":" +
                    std::to_string(std::chrono::duration_cast<std::chrono::milliseconds>(
                                       std::chrono::system_clock::now().time_since_epoch())
                                       .count());
  if (opts.dsn.empty()) {
    auto dsn = effective_dsn(rt->topo.database);
    if (!dsn) {
      std::cerr << "postbox-node: " << describe(dsn.error()) << "\n";
      return 2;
    }
    rt->dsn = *dsn;
  } else {
    rt->dsn = opts.dsn;
  }
  {
    const session_options base = rt->session("postbox-pool");
    const std::string prefix = "postbox-" + rt->node_name + "/pool";
    rt->consumer_pool =
        std::make_shared<session_pool>(rt->topo.database.pool, [base, prefix](int i) {
          session_options o = base;
          o.application_name = prefix + std::to_string(i);
          return o;
        });
  }
  startup_retry retry{rt->topo.startup_timeout};
  {
    pg_session session{rt->session("postbox-node-migrate")};
    auto report = migrate(session, "postbox-node");
    while (!report && retry.again("migrate", report.error()))
      report = migrate(session, "postbox-node");
    if (!report && is(report.error(), errc::schema_newer)) {
      std::cerr << "postbox-node: " << detail_of(report.error()) << "\n";
      return 1;
    }
    if (!report) {
      std::cerr << "postbox-node: migrate failed: " << describe(report.error())
                << retry.gave_up(report.error()) << "\n";
      return 1;
    }
  }
  if (int rc = claim_node_name(*rt, retry); rc != 0) return rc;
  // Every thread CAF starts inherits this mask; only the waiter below takes signals.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  // After the mask: its thread must not take SIGTERM either.
  if (rt->topo.database.group_commit) {
    group_committer_config gc;
    // Tests only: hold each group until this many deliveries wait (at most 5 s), so a
    // test can kill the node during a group of several.
    if (const char* n = std::getenv("POSTBOX_TEST_GROUP_COMMIT_GATHER"); n && std::atoi(n) > 1) {
      gc.gather_at_least = static_cast<size_t>(std::atoi(n));
      gc.gather_deadline = std::chrono::seconds(5);
    }
    rt->committer =
        std::make_shared<group_committer>(rt->session("postbox-" + rt->node_name + "/commit"), gc);
  }

  std::unique_ptr<http_server> http;
  if (rt->node().http_port != 0) {
    auto started = start_node_http(rt);
    if (!started) {
      std::cerr << "postbox-node: " << describe(started.error()) << "\n";
      return 1;
    }
    http = std::move(*started);
  }

  std::string token;
  if (rt->node().control_port != 0) {
    auto t = control_token(rt->topo.control);
    if (!t) {
      std::cerr << "postbox-node: " << describe(t.error()) << "\n";
      return 2;
    }
    token = *t;
  }

  caf::actor_system_config cfg;
  cfg.add_message_types<caf::id_block::postbox>();
  configure_control(cfg, rt->topo.control);
  caf::actor_system sys{cfg};
  auto sup = spawn_supervisor(sys, rt);
  control_api control;
  if (rt->node().control_port != 0) {
    control = spawn_control(sys, rt, sup, token);
    auto port = publish_control(sys, control, rt->topo.control, rt->node().control_port);
    if (!port) {
      std::cerr << "postbox-node: cannot publish the control actor on " << rt->topo.control.bind
                << ":" << rt->node().control_port << ": " << sys.render(port.error()) << "\n";
      caf::anon_send_exit(control, caf::exit_reason::kill);
      caf::anon_send_exit(sup, caf::exit_reason::kill);
      return 1;
    }
    log_line(rt->node_name, "control actor on " + rt->topo.control.bind + ":" +
                                std::to_string(*port) + (rt->topo.control.tls() ? " (TLS)" : "") +
                                (token.empty() ? "" : " (token required)"));
  }
  log_line(rt->node_name,
           "node started (pid " + std::to_string(::getpid()) + ")" +
               (http ? ", http on " + rt->node().host + ":" + std::to_string(http->port())
                     : std::string()));
  const auto drain_timeout = rt->topo.drain_timeout;
  std::thread waiter{[sup, signals, drain_timeout] {
    int sig = 0;
    sigwait(&signals, &sig);
    caf::anon_send(sup, drain_atom::value);
    // Consumers give back what still runs after drain_timeout; if the process is
    // still here soon after that (database calls failing slowly against an
    // unreachable server), leave anyway: every lease it held comes back by itself.
    std::thread{[drain_timeout] {
      std::this_thread::sleep_for(drain_timeout + std::chrono::seconds(2));
      log_line("postbox-node", "drain did not finish within drain_timeout + 2s; exiting");
      std::_Exit(0);
    }}.detach();
    sigwait(&signals, &sig);  // a second signal: stop now, leases bring the work back
    caf::anon_send_exit(sup, caf::exit_reason::kill);
  }};
  waiter.detach();
  {
    caf::scoped_actor self{sys};
    self->monitor(sup);
    self->receive([](caf::down_msg&) {});
  }
  if (control) {
    unpublish_control(sys, control, rt->topo.control);
    caf::anon_send_exit(control, caf::exit_reason::user_shutdown);
    control = nullptr;
  }
  if (int stuck = rt->metrics->stuck_workers(); stuck > 0) {
    // Their threads are blocked in handlers and would hold ~actor_system; every
    // delivery they held has been failed or given back.
    log_line(rt->node_name, "node stopped (" + std::to_string(stuck) +
                                " worker thread(s) still stuck in a handler were abandoned)");
    std::cout.flush();
    std::cerr.flush();
    std::_Exit(0);
  }
  // CAF 0.17 can hang in ~actor_system with remote peers still connected (#686,
  // #1266). Every message is settled by now; do not let that keep the process up.
  std::thread{[] {
    std::this_thread::sleep_for(std::chrono::seconds(10));
    log_line("postbox-node", "actor system did not shut down within 10s; exiting");
    std::_Exit(0);
  }}.detach();
  log_line(rt->node_name, "node stopped");
  return 0;
}

}  // namespace postbox

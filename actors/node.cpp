// Wiring of a node process: topology -> migrations -> actor system -> supervisor;
// signals are taken by one thread (sigwait) and turned into a drain.
#include "actors/node.hpp"

#include <pthread.h>

#include <caf/all.hpp>
#include <csignal>
#include <iostream>
#include <thread>

#include "actors/actors.hpp"
#include "actors/atoms.hpp"
#include "actors/http_server.hpp"
#include "actors/log.hpp"
#include "actors/node_http.hpp"
#include "messages/type_ids.hpp"
#include "persistence/migrator.hpp"

namespace postbox {

int run_node(const node_options& opts) {
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
  auto rt = std::make_shared<runtime_config>();
  rt->topo = std::move(*topo);
  rt->node_name = opts.node_name;
  rt->dsn = opts.dsn.empty() ? rt->topo.database.dsn : opts.dsn;
  {
    pg_session session{{rt->dsn, "postbox-node-migrate"}};
    auto report = migrate(session);
    if (!report) {
      std::cerr << "postbox-node: migrate failed: " << describe(report.error()) << "\n";
      return 1;
    }
  }
  // Every thread CAF starts inherits this mask; only the waiter below takes signals.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  std::unique_ptr<http_server> http;
  if (rt->node().http_port != 0) {
    auto started = start_node_http(rt);
    if (!started) {
      std::cerr << "postbox-node: " << describe(started.error()) << "\n";
      return 1;
    }
    http = std::move(*started);
  }

  caf::actor_system_config cfg;
  cfg.add_message_types<caf::id_block::postbox>();
  caf::actor_system sys{cfg};
  auto sup = spawn_supervisor(sys, rt);
  log_line(rt->node_name,
           "node started (pid " + std::to_string(::getpid()) + ")" +
               (http ? ", http on " + rt->node().host + ":" + std::to_string(http->port())
                     : std::string()));
  std::thread waiter{[sup, signals] {
    int sig = 0;
    sigwait(&signals, &sig);
    caf::anon_send(sup, drain_atom::value);
    sigwait(&signals, &sig);  // a second signal: stop now, leases bring the work back
    caf::anon_send_exit(sup, caf::exit_reason::kill);
  }};
  waiter.detach();
  {
    caf::scoped_actor self{sys};
    self->monitor(sup);
    self->receive([](caf::down_msg&) {});
  }
  log_line(rt->node_name, "node stopped");
  return 0;
}

}  // namespace postbox

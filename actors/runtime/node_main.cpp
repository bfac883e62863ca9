// The command line of every node binary (CLI11, see actors/runtime/command_line.hpp).
#include "actors/runtime/node_main.hpp"

#include <string>

#include "actors/runtime/command_line.hpp"
#include "actors/runtime/node.hpp"
#include "postbox/version.hpp"

namespace postbox {

int node_main(int argc, char** argv, handler_registry handlers) {
  std::string self = argc > 0 ? argv[0] : "postbox-node";
  if (auto slash = self.find_last_of('/'); slash != std::string::npos)
    self = self.substr(slash + 1);
  CLI::App app{
      "Runs one node of a postbox topology: the actors the topology gives NAME, "
      "claiming messages from PostgreSQL, until SIGTERM drains it (it stops "
      "claiming, finishes what it holds, exits 0). SIGINT does the same.",
      self};
  command_line::configure(app);
  node_options opts;
  app.add_option("--topology", opts.topology_path, "the topology file (YAML)")
      ->type_name("FILE")
      ->envname("POSTBOX_TOPOLOGY")
      ->required();
  app.add_option("--node", opts.node_name, "which node of the topology this process runs")
      ->type_name("NAME")
      ->required();
  app.add_option("--dsn", opts.dsn,
                 "the database; else database.dsn of the topology (which may name "
                 "${POSTBOX_DSN})")
      ->type_name("DSN");
  app.set_version_flag("--version", version_line(self),
                       "print the version and the schema "
                       "version it needs, and exit");
  app.footer(command_line::exit_codes(
      "drained after SIGTERM / SIGINT",
      "a runtime failure (database unreachable at start, "
      "schema newer than this binary, ...)",
      "bad invocation or configuration (topology, node name, control token)"));
  if (auto exit_code = command_line::parse(app, argc, argv)) return *exit_code;
  return run_node(opts, std::move(handlers));
}

}  // namespace postbox

// The command line of every node binary.
#include "actors/runtime/node_main.hpp"

#include <cstdlib>
#include <iostream>
#include <string>

#include "actors/runtime/node.hpp"
#include "postbox/version.hpp"

namespace postbox {

int node_main(int argc, char** argv, handler_registry handlers) {
  std::string self = argc > 0 ? argv[0] : "postbox-node";
  if (auto slash = self.find_last_of('/'); slash != std::string::npos)
    self = self.substr(slash + 1);
  const std::string usage =
      "usage: " + self + " --topology FILE --node NAME [--dsn DSN] | --version";
  node_options opts;
  if (const char* t = std::getenv("POSTBOX_TOPOLOGY")) opts.topology_path = t;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto next = [&]() -> const char* { return i + 1 < argc ? argv[++i] : nullptr; };
    const char* v = nullptr;
    if (a == "--help" || a == "-h") {
      std::cout << usage << "\n";
      return 0;
    } else if (a == "--version") {
      std::cout << version_line(self) << "\n";
      return 0;
    } else if (a == "--topology" && (v = next())) {
      opts.topology_path = v;
    } else if (a == "--node" && (v = next())) {
      opts.node_name = v;
    } else if (a == "--dsn" && (v = next())) {
      opts.dsn = v;
    } else {
      std::cerr << self << ": unknown or incomplete option '" << a << "' (" << usage << ")\n";
      return 2;
    }
  }
  if (opts.topology_path.empty() || opts.node_name.empty()) {
    std::cerr << self << ": --topology FILE and --node NAME are required\n";
    return 2;
  }
  return run_node(opts, std::move(handlers));
}

}  // namespace postbox

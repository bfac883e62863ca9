// postbox-node: runs one node of a topology. main() only wires.
#include <cstdlib>
#include <iostream>
#include <string>

#include "actors/node.hpp"

int main(int argc, char** argv) {
  postbox::node_options opts;
  if (const char* t = std::getenv("POSTBOX_TOPOLOGY")) opts.topology_path = t;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto next = [&]() -> const char* { return i + 1 < argc ? argv[++i] : nullptr; };
    const char* v = nullptr;
    if (a == "--help" || a == "-h") {
      std::cout << "usage: postbox-node --topology FILE --node NAME [--dsn DSN]\n";
      return 0;
    } else if (a == "--topology" && (v = next())) {
      opts.topology_path = v;
    } else if (a == "--node" && (v = next())) {
      opts.node_name = v;
    } else if (a == "--dsn" && (v = next())) {
      opts.dsn = v;
    } else {
      std::cerr << "postbox-node: unknown or incomplete option '" << a
                << "' (usage: postbox-node --topology FILE --node NAME [--dsn DSN])\n";
      return 2;
    }
  }
  if (opts.topology_path.empty() || opts.node_name.empty()) {
    std::cerr << "postbox-node: --topology FILE and --node NAME are required\n";
    return 2;
  }
  return postbox::run_node(opts);
}

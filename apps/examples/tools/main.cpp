// postbox-example-tools: a node that runs the executor example's handlers, with the
// same command line, topology, HTTP endpoint, control plane and drain as postbox-node.
#include "apps/examples/tools/tools.hpp"

int main(int argc, char** argv) {
  postbox::registry registry;
  tools::register_tools(registry);
  return postbox::node_main(argc, argv, registry);
}

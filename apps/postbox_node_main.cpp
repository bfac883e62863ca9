// postbox-node: the stock node, i.e. the runtime with the file pipeline registered.
#include "actors/pipeline/pipeline.hpp"
#include "actors/runtime/node_main.hpp"

int main(int argc, char** argv) {
  return postbox::node_main(argc, argv, postbox::pipeline_handlers());
}

// postbox: the client. main() only wires: parse the command line, run the command.
#include "apps/cli/cli.hpp"

int main(int argc, char** argv) {
  return postbox::cli::run(argc, argv);
}

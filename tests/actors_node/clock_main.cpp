// The reminders suite's node: actor type `clock` on queue `timed` (clock.hpp).
#include "clock.hpp"

int main(int argc, char** argv) {
  postbox::registry registry;
  register_clock(registry);
  return postbox::node_main(argc, argv, registry);
}

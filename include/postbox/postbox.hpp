// The public runtime API in one include: describe message types
// (<postbox/describe.hpp>), write handlers against postbox::context, register them
// in a postbox::registry and run a node with postbox::node_main.
#pragma once

#include <postbox/context.hpp>
#include <postbox/describe.hpp>
#include <postbox/node_main.hpp>
#include <postbox/outcome.hpp>
#include <postbox/registry.hpp>

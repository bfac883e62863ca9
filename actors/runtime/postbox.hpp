// The public runtime API in one include: describe message types
// (messages/describe.hpp), write handlers against postbox::context, register them
// in a postbox::registry and run a node with postbox::node_main.
#pragma once

#include "actors/runtime/context.hpp"
#include "actors/runtime/node_main.hpp"
#include "actors/runtime/outcome.hpp"
#include "actors/runtime/registry.hpp"
#include "messages/describe.hpp"

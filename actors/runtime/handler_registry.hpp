// The handler registry is public (<postbox/handler_registry.hpp>); the runtime's
// handlers see the delivery they get.
#pragma once

#include <postbox/handler_registry.hpp>

#include "persistence/mailbox_store.hpp"

// The client is public (<postbox/client.hpp>); inside the repository its stores
// are visible too (the CLI lists through them).
#pragma once

#include <postbox/client.hpp>

#include "persistence/execution_store.hpp"
#include "persistence/inspect_store.hpp"

// Moved to the public API: include/postbox/execution_status.hpp.
#pragma once

#include <postbox/execution_status.hpp>

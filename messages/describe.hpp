// Moved to the public API: include/postbox/describe.hpp.
#pragma once

#include <postbox/describe.hpp>

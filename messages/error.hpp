// Moved to the public API: include/postbox/error.hpp.
#pragma once

#include <postbox/error.hpp>

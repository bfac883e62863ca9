// A handler's outcome is public: <postbox/outcome.hpp>.
#pragma once

#include <postbox/outcome.hpp>

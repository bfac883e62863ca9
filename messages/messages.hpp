// Moved to the public API: include/postbox/messages.hpp.
#pragma once

#include <postbox/messages.hpp>

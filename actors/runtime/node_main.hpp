// node_main is public: <postbox/node_main.hpp>.
#pragma once

#include <postbox/node_main.hpp>

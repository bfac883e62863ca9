// One line per event on stderr, with time and component: what an operator greps.
#pragma once

#include <string>

namespace postbox {

void log_line(const std::string& component, const std::string& text);

}  // namespace postbox

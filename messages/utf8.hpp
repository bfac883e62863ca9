// Text from outside (processor output, stderr, exception messages) must be valid
// UTF-8 before it reaches JSON or a PostgreSQL text column, or the write fails.
#pragma once

#include <string>
#include <string_view>

namespace postbox {

/// Replaces every invalid UTF-8 sequence with U+FFFD.
std::string utf8_sanitize(std::string_view s);

}  // namespace postbox

// Whatever a handler produced (a result, an error text), as JSON PostgreSQL will
// store: invalid UTF-8 and U+0000 replaced by U+FFFD, text that is not JSON kept
// as a JSON string. Nothing a handler returns can make its ack fail.
#pragma once

#include <string>
#include <string_view>

namespace postbox {

/// `text` as storable JSON: the same value when it is valid JSON without U+0000;
/// otherwise the repaired value, or the (repaired) text as a JSON string.
std::string storable_json(std::string_view text);

/// `text` as a storable plain string (for text columns and JSON string values).
std::string storable_text(std::string_view text);

}  // namespace postbox

// Builds the on_success / on_error messages a delivery's headers ask for.
#pragma once

#include <optional>
#include <string>

#include "persistence/mailbox_store.hpp"

namespace postbox {

/// The on_success continuation of `d` (payload + execution_id + status), if any.
std::optional<outgoing_message> on_success_message(const delivery& d);

/// The on_error continuation of `d` (payload + execution_id + error text), if any.
/// Headers that do not decode give none: the dead letter keeps them for inspection.
std::optional<outgoing_message> on_error_message(const delivery& d, const std::string& error);

}  // namespace postbox

// Builds the on_success / on_error messages a delivery's headers ask for.
#pragma once

#include <optional>
#include <string>

#include "persistence/handled_commit.hpp"
#include "persistence/mailbox_store.hpp"

namespace postbox {

/// The on_success continuation of `d` (payload + execution_id + status + message_id,
/// and the handler's result under `result` when `result_json` is given), if any.
std::optional<outgoing_message> on_success_message(const delivery& d,
                                                   const std::string& result_json = {});

/// The on_error continuation of `d` (payload + execution_id + message_id + error
/// text), if any.
/// Headers that do not decode give none: the dead letter keeps them for inspection.
std::optional<outgoing_message> on_error_message(const delivery& d, const std::string& error);

/// `d`'s own on_error header as JSON text ("" when it has none or it does not parse).
std::string on_error_spec(const delivery& d);

/// Where `d` arrives when it ends: the group its headers name, if any.
std::optional<group_member> group_of(const delivery& d);

}  // namespace postbox

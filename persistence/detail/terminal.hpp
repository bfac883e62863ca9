// Internal: what every move to a terminal status writes in the same transaction.
#pragma once

#include "persistence/detail/tx_context.hpp"

namespace postbox::detail {

/// Counts from file_results onto the execution, then its webhook and usage outbox rows.
caf::error record_terminal(tx_context& tx, const std::string& execution_id);

}  // namespace postbox::detail

// Internal to persistence/: mailbox rows as deliveries (the columns of mailbox_read.sql's
// RETURNING, in its order), sorted by id.
#pragma once

#include <pqxx/pqxx>
#include <vector>

#include "persistence/mailbox_store.hpp"

namespace postbox::detail {

std::vector<delivery> deliveries_of(const pqxx::result& r);

}  // namespace postbox::detail

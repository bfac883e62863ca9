// Applies the embedded, numbered migrations under an advisory lock, recording
// each one; running it again (or from two processes at once) is a no-op.
#pragma once

#include <caf/expected.hpp>
#include <string>
#include <vector>

#include "persistence/pg_session.hpp"

namespace postbox {

struct migration_report {
  std::vector<std::string> applied;  // names applied by this run, in order
  int current_version = 0;           // highest version present afterwards
};

caf::expected<migration_report> migrate(pg_session& session);

}  // namespace postbox

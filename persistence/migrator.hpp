// Applies the embedded, numbered migrations under an advisory lock, recording
// each one; running it again (or from two processes at once) is a no-op. A database
// migrated by a newer postbox (a migration number above ours) is refused.
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

/// Refuses (errc::schema_newer, nothing applied) a database holding a migration newer
/// than any this build embeds: a newer postbox migrated it. The error's detail is one
/// line naming both versions, with `program` as this build's name.
caf::expected<migration_report> migrate(pg_session& session,
                                        const std::string& program = "postbox");

/// The highest migration number this build embeds (POSTBOX_SCHEMA_VERSION).
int embedded_schema_version();

}  // namespace postbox

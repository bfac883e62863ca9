// One JSON shape for an execution, shared by the CLI, the client API and the
// control plane: execution_id, workflow, org, status, files_total, files_done,
// files_failed, files_not_run (ended, neither done nor failed), error, created_at,
// updated_at.
#pragma once

#include <caf/expected.hpp>
#include <string>

#include "persistence/execution_store.hpp"

namespace postbox {

std::string execution_to_json(const execution_record& e);
caf::expected<execution_record> execution_from_json(const std::string& text);

/// "2026-11-23 11:13:12Z" for a Unix time.
std::string utc_timestamp(double epoch);

}  // namespace postbox

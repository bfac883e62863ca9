// Named SQL embedded at build time: persistence/sql/NAME.sql are queries,
// persistence/migrations/NNN_name.sql are schema migrations (applied in order).
#pragma once

#include <string>
#include <vector>

namespace postbox::sql {

struct sql_file {
  const char* name;
  const char* text;
};

/// Every query of persistence/sql/, sorted by name.
const std::vector<sql_file>& queries();

/// Every migration of persistence/migrations/, sorted by file name (NNN_ prefix).
const std::vector<sql_file>& migrations();

/// The text of query `name`; aborts on an unknown name (a programming error
/// that every store test would hit at once).
const char* query(const char* name);

}  // namespace postbox::sql

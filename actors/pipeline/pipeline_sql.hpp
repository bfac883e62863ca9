// The pipeline's SQL: the statements its handlers run on its own tables (executions,
// claims, file_results, blobs, outbox), by name from the queries embedded at build
// time, passed to the runtime API's query / execute / in_ack like any user's SQL.
#pragma once

#include "persistence/sql_registry.hpp"

namespace postbox {

inline const char* pipeline_sql(const char* name) {
  return sql::query(name);
}

}  // namespace postbox

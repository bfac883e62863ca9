// A handler's own SQL on its own tables, without pqxx: a statement is text with
// $1..$n placeholders and text parameters (std::nullopt is NULL; the server casts,
// e.g. $2::int). Reads run at once in their own transaction; writes are deferred
// to the transaction that acks the message, so they commit with it or not at all.
#pragma once

#include <caf/expected.hpp>
#include <optional>
#include <string>
#include <vector>

#include "persistence/pg_session.hpp"

namespace postbox {

using sql_value = std::optional<std::string>;
using sql_row = std::vector<sql_value>;

struct sql_statement {
  std::string text;
  std::vector<sql_value> params;
};

/// Runs `q` in its own transaction and returns its rows (each field as text or NULL).
caf::expected<std::vector<sql_row>> run_query(pg_session& session, const sql_statement& q);

/// Runs `s` inside `tx` (a unit of work's transaction).
caf::error run_statement(tx_context& tx, const sql_statement& s);

}  // namespace postbox

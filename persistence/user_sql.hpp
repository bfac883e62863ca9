// A handler's own SQL on its own tables, without pqxx: a statement is text with
// $1..$n placeholders and text parameters (std::nullopt is NULL; the server casts,
// e.g. $2::int). Reads run at once in their own transaction; writes are deferred
// to the transaction that acks the message, so they commit with it or not at all.
#pragma once

#include <caf/expected.hpp>
#include <exception>
#include <functional>
#include <optional>
#include <postbox/sql.hpp>
#include <string>
#include <vector>

#include "persistence/pg_session.hpp"

namespace postbox {

/// invalid_argument when a parameter holds a NUL byte (libpq would cut it short).
caf::error check_params(const std::vector<sql_value>& params);

/// A text[] parameter (`$1::text[]`) holding `items`.
std::string sql_text_array(const std::vector<std::string>& items);
/// The same with NULL elements (nullopt).
std::string sql_text_array(const std::vector<sql_value>& items);

/// Runs `q` in its own transaction and returns its rows (each field as text or NULL).
caf::expected<std::vector<sql_row>> run_query(pg_session& session, const sql_statement& q);

/// Runs the write `s` in its own transaction and commits it now; how many rows it
/// affected. Retried once on a lost connection, so it must be idempotent.
/// With an `execution_id`, the execution's fence is taken (shared) first and nothing is
/// written once it is STOPPED: errc::execution_stopped (guarantee 9).
caf::expected<int64_t> run_write(pg_session& session, const sql_statement& s,
                                 const std::string& execution_id = {});

/// As run_write, committed without waiting for the WAL flush (synchronous_commit =
/// off): visible at once, durable within a fraction of a second or at the next
/// synchronous commit on the server, whichever comes first. For progress that a
/// server crash may lose and a redelivery redo: a checkpoint, never an outcome.
/// Fenced by `execution_id` as run_write.
caf::expected<int64_t> run_checkpoint(pg_session& session, const sql_statement& s,
                                      const std::string& execution_id = {});
/// The same for several statements, in order, in one such transaction; how many rows
/// the last one affected.
caf::expected<int64_t> run_checkpoint(pg_session& session, const std::vector<sql_statement>& ss,
                                      const std::string& execution_id = {});

/// Runs `s` inside `tx` (a unit of work's transaction).
caf::error run_statement(tx_context& tx, const sql_statement& s);

}  // namespace postbox

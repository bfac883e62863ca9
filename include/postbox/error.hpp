// The project's error codes: one CAF error category ("postbox") for stores,
// decoding, config and I/O, so every layer returns errors as values.
#pragma once

#include <caf/error.hpp>
#include <cstdint>
#include <string>

namespace postbox {

enum class errc : uint8_t {
  connection_lost = 1,    // the database connection died (retryable for idempotent writes)
  lease_lost,             // the receipt is stale: someone else holds (or finished) the delivery
  constraint_violation,   // a unique/check/foreign-key violation: a logic error, never retried
  logic_error,            // bad SQL, misuse of an API: never retried
  serialization_failure,  // 40001/40P01: the transaction may be re-run by the caller
  not_found,              // the row the operation needs does not exist
  decode_failed,          // a message body or JSON document did not decode; context names the field
  invalid_argument,       // the caller passed something unusable
  config_error,           // a topology/config problem; context names file:line:key
  io_error,               // filesystem or network I/O failed
  timeout,                // a deadline passed
  unauthorized,           // the control plane refused a request (missing or wrong token)
  unreachable,            // no node's control actor could be reached
  transient,              // the server could not do it now (out of resources, cancelled,
                          // lock not available): retry later, not the message's fault
  execution_stopped,      // the message's execution was cancelled: nothing more of it
                          // commits (guarantee 9); its delivery is acked, never charged
  schema_newer,           // the database was migrated by a newer postbox than this build:
                          // refused, never retried (upgrade the binaries)
};

/// The CAF category atom of errc ("postbox").
caf::atom_value errc_category();

/// Builds an error of the postbox category; `detail` is kept as its context.
caf::error make_error(errc code, std::string detail = {});

/// Name of a code, e.g. "lease_lost".
const char* to_string(errc code);

/// The errc of `err`, or nullopt-like 0 when `err` is empty or of another category.
uint8_t code_of(const caf::error& err);

/// True when `err` is of the postbox category and has code `code`.
bool is(const caf::error& err, errc code);

/// One human line: "lease_lost: ack of message 17 with a stale receipt".
std::string describe(const caf::error& err);

/// describe() without the code: the detail alone when there is one ("ack of message 17
/// with a stale receipt"), for texts that already say what failed.
std::string detail_of(const caf::error& err);

}  // namespace postbox

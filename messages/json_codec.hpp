// JSON form of the message structs, as stored in the mailbox `body`/`headers` columns.
// Decoders never throw: they return errc::decode_failed errors whose text names the field.
#pragma once

#include <caf/expected.hpp>
#include <string>

#include "messages/messages.hpp"

namespace postbox {

// Strings must be valid UTF-8: the encoder copies bytes verbatim, so invalid input gives
// text that the decoders (and PostgreSQL's json types) reject rather than silently altered data.
// A continuation payload that is not a JSON object is written as a JSON string, so decoding
// it fails with "field 'payload': expected object" instead of losing it.
std::string to_json(const execute_workflow& x);
std::string to_json(const process_file_batch& x);
std::string to_json(const execution_callback& x);
std::string to_json(const continuation& x);
std::string to_json(const message_headers& x);

caf::expected<execute_workflow> decode_execute_workflow(const std::string& text);
caf::expected<process_file_batch> decode_process_file_batch(const std::string& text);
caf::expected<execution_callback> decode_execution_callback(const std::string& text);
caf::expected<continuation> decode_continuation(const std::string& text);
caf::expected<message_headers> decode_message_headers(const std::string& text);

}  // namespace postbox

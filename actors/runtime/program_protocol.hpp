// The line protocol between postbox and an external-program handler: one JSON object
// per line each way (docs/programs.md, "The protocol"). Pure functions, no I/O.
#pragma once

#include <caf/expected.hpp>
#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include "actors/runtime/context.hpp"

namespace postbox {

/// What the program is told about one message.
struct program_request {
  int64_t id = 0;
  std::string queue;
  std::string type;
  std::string execution_id;  // "" is sent as null
  std::string org;           // "" is sent as null
  int32_t attempt = 1;
  std::string payload_json = "{}";
  std::chrono::milliseconds time_left{0};
};

/// The request as one line (no newline inside, none at the end).
std::string encode_request(const program_request& r);

/// What the program answered.
struct program_answer {
  bool ok = false;
  std::string result_json = "null";  // ok
  bool has_reply = false;            // ok: "reply" was given (stored for ask)
  std::string reply_json = "null";
  std::vector<message_out> sends;  // ok: enqueued with the ack
  std::string error;               // !ok
  bool retry = true;               // !ok: false = dead-letter now
};

/// Decodes an answer line. errc::decode_failed when it is no JSON object at all
/// (the stream is then out of step: the caller restarts the program), and
/// errc::invalid_argument when it is an object of the wrong shape; each names what.
caf::expected<program_answer> decode_answer(const std::string& line);

}  // namespace postbox

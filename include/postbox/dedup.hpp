// Dedup keys on send (guarantee 13): while a message with a key is live on its queue,
// another send with that key enqueues nothing and gets the live message's id back.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace postbox {

/// until_done: refused while a message with the key is live (every state until its ack or
/// dead letter). ttl: also for dedup_ttl after the first send, even after its ack.
/// replace: a live message that is not running gets the new payload and headers in place;
/// a running one keeps running without its key and the new message takes it.
enum class dedup_mode { until_done, ttl, replace };

inline const char* to_string(dedup_mode m) {
  switch (m) {
    case dedup_mode::ttl:
      return "ttl";
    case dedup_mode::replace:
      return "replace";
    default:
      return "until_done";
  }
}

inline std::optional<dedup_mode> parse_dedup_mode(const std::string& s) {
  if (s == "until_done") return dedup_mode::until_done;
  if (s == "ttl") return dedup_mode::ttl;
  if (s == "replace") return dedup_mode::replace;
  return std::nullopt;
}

/// The outcome of one send: the id of the message sent, or (duplicate) of the live
/// message that holds its dedup key; nothing was enqueued then.
struct send_result {
  int64_t id = 0;
  bool duplicate = false;
};

/// A send's dedup key (empty: none), its mode, and its ttl (ttl mode only, above zero).
struct dedup_options {
  std::string key;
  dedup_mode mode = dedup_mode::until_done;
  std::chrono::milliseconds ttl{0};
};

/// The longest dedup key, in bytes.
constexpr size_t max_dedup_key_bytes = 512;

/// Whether `key` has the form of a schedule tick's dedup key, `name@tick` with the tick
/// written in UTC as `YYYY-MM-DDTHH:MM:SS.sssZ` (migration 027): reserved for the ticks,
/// so no send can hold a tick's key before it fires. The database refuses it on every
/// insert; the runtime, the client and programs refuse it early with these words.
inline bool is_tick_dedup_key(std::string_view key) {
  static constexpr std::string_view shape = "@0000-00-00T00:00:00.000Z";
  if (key.size() < shape.size() + 1) return false;
  const auto tail = key.substr(key.size() - shape.size());
  for (size_t i = 0; i < shape.size(); ++i) {
    const char c = tail[i];
    if (shape[i] == '0' ? (c < '0' || c > '9') : c != shape[i]) return false;
  }
  return true;
}

/// Why a send with a tick's key (is_tick_dedup_key) is refused.
inline std::string tick_dedup_key_refusal(std::string_view key) {
  return "dedup key '" + std::string(key) +
         "' has the form of a schedule tick's key (name@YYYY-MM-DDTHH:MM:SS.sssZ), which is "
         "reserved for schedule ticks";
}

}  // namespace postbox

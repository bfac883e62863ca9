// A message's priority: four named tiers, claimed highest first (mailbox.priority, 0..3).
// Names rather than numbers: peers disagree on which end is high.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

namespace postbox {

enum class priority : int16_t { low = 0, normal = 1, high = 2, urgent = 3 };

/// "low", "normal", "high" or "urgent".
inline const char* to_string(priority p) {
  switch (p) {
    case priority::low:
      return "low";
    case priority::normal:
      return "normal";
    case priority::high:
      return "high";
    case priority::urgent:
      return "urgent";
  }
  return "normal";
}

/// The tier named `name` (exactly one of the four names), or nullopt.
inline std::optional<priority> priority_from_string(const std::string& name) {
  if (name == "low") return priority::low;
  if (name == "normal") return priority::normal;
  if (name == "high") return priority::high;
  if (name == "urgent") return priority::urgent;
  return std::nullopt;
}

/// The tier of number `n` (0..3), or nullopt.
inline std::optional<priority> priority_from_int(int n) {
  if (n < 0 || n > 3) return std::nullopt;
  return static_cast<priority>(n);
}

}  // namespace postbox

// The lifecycle of an execution: QUEUED -> EXECUTING -> COMPLETED | ERROR | STOPPED.
#pragma once

#include <optional>
#include <string>

namespace postbox {

enum class execution_status { queued, executing, completed, error, stopped };

inline const char* to_string(execution_status s) {
  switch (s) {
    case execution_status::queued:
      return "QUEUED";
    case execution_status::executing:
      return "EXECUTING";
    case execution_status::completed:
      return "COMPLETED";
    case execution_status::error:
      return "ERROR";
    case execution_status::stopped:
      return "STOPPED";
  }
  return "UNKNOWN";
}

inline std::optional<execution_status> parse_execution_status(const std::string& s) {
  for (auto x : {execution_status::queued, execution_status::executing, execution_status::completed,
                 execution_status::error, execution_status::stopped})
    if (s == to_string(x)) return x;
  return std::nullopt;
}

inline bool is_terminal(execution_status s) {
  return s == execution_status::completed || s == execution_status::error ||
         s == execution_status::stopped;
}

}  // namespace postbox

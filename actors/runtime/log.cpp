// Thread-safe line logging.
#include "actors/runtime/log.hpp"

#include <chrono>
#include <cstdio>
#include <ctime>
#include <mutex>

namespace postbox {

void log_line(const std::string& component, const std::string& text) {
  static std::mutex mtx;
  auto now = std::chrono::system_clock::now();
  auto t = std::chrono::system_clock::to_time_t(now);
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()) % 1000;
  std::tm tm{};
  gmtime_r(&t, &tm);
  char stamp[32];
  std::strftime(stamp, sizeof stamp, "%H:%M:%S", &tm);
  std::lock_guard<std::mutex> guard{mtx};
  std::fprintf(stderr, "%s.%03d %s: %s\n", stamp, static_cast<int>(ms.count()), component.c_str(),
               text.c_str());
}

}  // namespace postbox

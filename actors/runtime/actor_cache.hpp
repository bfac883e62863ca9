// The node's cache of keyed actors' states, by version: a turn whose claim saw the
// version the cache holds reads nothing. Shared by the node's workers (a key's turns
// may land on any of them); bounded in entries and bytes, dropped whole when full (a
// miss costs one read). Versions are never reused (migration 019), so an entry can only
// ever be right or unused.
#pragma once

#include <cstdint>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>

namespace postbox {

class actor_state_cache {
 public:
  explicit actor_state_cache(size_t capacity = 100000, size_t max_bytes = 64u << 20)
      : capacity_(capacity), max_bytes_(max_bytes) {}

  /// The state of (type, key) at exactly `version`, if cached.
  std::optional<std::string> get(const std::string& type, const std::string& key, int64_t version) {
    std::lock_guard<std::mutex> guard(mutex_);
    auto it = entries_.find(slot(type, key));
    if (it == entries_.end() || it->second.version != version) return std::nullopt;
    return it->second.state_json;
  }
  void put(const std::string& type, const std::string& key, int64_t version,
           std::string state_json) {
    std::lock_guard<std::mutex> guard(mutex_);
    if (state_json.size() > max_bytes_ / 16) return;  // a huge state is read each turn
    auto& e = entries_[slot(type, key)];
    bytes_ -= e.state_json.size();
    e = entry{version, std::move(state_json)};
    bytes_ += e.state_json.size();
    if (entries_.size() > capacity_ || bytes_ > max_bytes_) {
      entries_.clear();
      bytes_ = 0;
    }
  }

 private:
  struct entry {
    int64_t version = 0;
    std::string state_json;
  };
  static std::string slot(const std::string& type, const std::string& key) {
    return type + '\0' + key;
  }
  std::mutex mutex_;
  size_t capacity_;
  size_t max_bytes_;
  size_t bytes_ = 0;
  std::unordered_map<std::string, entry> entries_;
};

}  // namespace postbox

// The node's cache of keyed actors' states, by version: a turn whose claim saw the
// version the cache holds reads nothing. Shared by the node's workers (a key's turns
// may land on any of them); bounded, dropped whole when full (a miss costs one read).
#pragma once

#include <cstdint>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>

namespace postbox {

class actor_state_cache {
 public:
  explicit actor_state_cache(size_t capacity = 10000) : capacity_(capacity) {}

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
    if (entries_.size() >= capacity_) entries_.clear();
    entries_[slot(type, key)] = entry{version, std::move(state_json)};
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
  std::unordered_map<std::string, entry> entries_;
};

}  // namespace postbox

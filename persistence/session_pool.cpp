// A bounded set of sessions borrowed one at a time.
#include "persistence/session_pool.hpp"

#include <algorithm>

namespace postbox {

session_pool::session_pool(int size, std::function<session_options(int)> make)
    : size_(std::max(1, size)), make_(std::move(make)) {}

session_pool::lease session_pool::borrow() {
  std::unique_lock<std::mutex> lock(mutex_);
  freed_.wait(lock, [&] { return !free_.empty() || static_cast<int>(all_.size()) < size_; });
  if (free_.empty()) {
    all_.push_back(std::make_unique<pg_session>(make_(static_cast<int>(all_.size()))));
    return lease(*this, *all_.back());
  }
  pg_session* s = free_.back();
  free_.pop_back();
  return lease(*this, *s);
}

int session_pool::made() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return static_cast<int>(all_.size());
}

void session_pool::give_back(pg_session& s) {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    free_.push_back(&s);
  }
  freed_.notify_one();
}

}  // namespace postbox

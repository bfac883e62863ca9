// A bounded set of sessions that threads borrow one at a time (issue 24 item 6): a
// node's consumers claim, renew and fail through it, so their connections number the
// pool's size, not the node's queues. A session is made (and connects) on first need.
// A borrower must return its session before it borrows again (never two at once).
#pragma once

#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <vector>

#include "persistence/pg_session.hpp"

namespace postbox {

class session_pool {
 public:
  /// `make(i)` gives the options of session i (its application_name, say).
  session_pool(int size, std::function<session_options(int)> make);
  session_pool(const session_pool&) = delete;
  session_pool& operator=(const session_pool&) = delete;

  /// A borrowed session, returned when it goes out of scope.
  class lease {
   public:
    lease(session_pool& pool, pg_session& s) : pool_(&pool), session_(&s) {}
    lease(lease&& other) noexcept : pool_(other.pool_), session_(other.session_) {
      other.pool_ = nullptr;
    }
    lease(const lease&) = delete;
    lease& operator=(const lease&) = delete;
    lease& operator=(lease&&) = delete;
    ~lease() {
      if (pool_) pool_->give_back(*session_);
    }
    pg_session& operator*() const { return *session_; }
    pg_session* operator->() const { return session_; }

   private:
    session_pool* pool_;
    pg_session* session_;
  };

  /// Waits until a session is free (or can be made) and lends it.
  lease borrow();

  int size() const { return size_; }
  /// Sessions made so far (each has, or had, a connection).
  int made() const;

 private:
  void give_back(pg_session& s);

  const int size_;
  std::function<session_options(int)> make_;
  mutable std::mutex mutex_;
  std::condition_variable freed_;
  std::vector<std::unique_ptr<pg_session>> all_;
  std::vector<pg_session*> free_;
};

}  // namespace postbox

// A node's group committer: its workers hand it their deliveries' successes and
// block; one thread on a connection of its own commits whatever is waiting in one
// transaction (commit_successes), so a node's acks cost one WAL flush per group, not
// one per delivery. No timer: a group starts as soon as the previous one ended, so a
// lone delivery waits for nobody.
#pragma once

#include <caf/expected.hpp>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <postbox/session_options.hpp>
#include <thread>
#include <vector>

#include "persistence/handled_commit.hpp"
#include "persistence/pg_session.hpp"

namespace postbox {

struct group_committer_config {
  /// Deliveries per transaction at most. Each is a savepoint, and PostgreSQL keeps 64
  /// subtransactions per transaction in shared memory before every other snapshot
  /// gets slower: stay well below.
  size_t max_group = 32;
  /// Groups in flight at once, each on a connection of its own. A delivery that finds
  /// one free commits at once (alone if nothing else waits); a group forms only while
  /// all are busy. 1 serializes every commit of the node: each then waits for the group
  /// before it, which costs more than a WAL flush where flushes are cheap.
  size_t connections = 2;
  /// Tests only: a group waits until this many deliveries are waiting (or
  /// `gather_deadline` passed), so a test can catch a group of several in the act.
  size_t gather_at_least = 1;
  std::chrono::milliseconds gather_deadline{0};
};

class group_committer {
 public:
  explicit group_committer(session_options session, group_committer_config cfg = {});
  ~group_committer();  // commits what still waits, then stops
  group_committer(const group_committer&) = delete;
  group_committer& operator=(const group_committer&) = delete;

  /// Commits `c` in the next group; blocks until it committed (or failed) and answers
  /// what commit_success would have. `c` must live until this returns.
  caf::expected<success_outcome> commit(const success_commit& c);

  /// Transactions committed, and the deliveries in them (for /metrics and tests).
  uint64_t groups() const;
  uint64_t deliveries() const;

 private:
  struct request {
    const success_commit* commit = nullptr;
    std::optional<caf::expected<success_outcome>> answer;
  };

  void run(pg_session& session);

  group_committer_config cfg_;
  std::vector<std::unique_ptr<pg_session>> sessions_;  // one per thread, its alone
  mutable std::mutex mtx_;
  std::condition_variable work_;
  std::condition_variable answered_;
  std::deque<request*> waiting_;
  bool stopping_ = false;
  uint64_t groups_ = 0;
  uint64_t deliveries_ = 0;
  std::vector<std::thread> threads_;
};

}  // namespace postbox

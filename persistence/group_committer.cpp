// The group committer's queue and thread (the transaction: group_commit.cpp).
#include "persistence/group_committer.hpp"

#include <exception>

namespace postbox {

group_committer::group_committer(session_options session, group_committer_config cfg) : cfg_(cfg) {
  if (cfg_.max_group == 0) cfg_.max_group = 1;
  if (cfg_.connections == 0) cfg_.connections = 1;
  // Each connection named NAME/0, NAME/1, ...: operators and tests tell them apart.
  for (size_t i = 0; i < cfg_.connections; ++i) {
    session_options o = session;
    o.application_name += "/" + std::to_string(i);
    sessions_.push_back(std::make_unique<pg_session>(o));
  }
  for (auto& s : sessions_) threads_.emplace_back([this, s = s.get()] { run(*s); });
}

group_committer::~group_committer() {
  {
    std::lock_guard<std::mutex> lock(mtx_);
    stopping_ = true;
  }
  work_.notify_all();
  for (auto& t : threads_) t.join();
}

caf::expected<success_outcome> group_committer::commit(const success_commit& c) {
  request r;
  r.commit = &c;
  std::unique_lock<std::mutex> lock(mtx_);
  if (stopping_) return make_error(errc::transient, "the node's group committer has stopped");
  waiting_.push_back(&r);
  work_.notify_one();
  answered_.wait(lock, [&] { return r.answer.has_value(); });
  return std::move(*r.answer);
}

uint64_t group_committer::groups() const {
  std::lock_guard<std::mutex> lock(mtx_);
  return groups_;
}

uint64_t group_committer::deliveries() const {
  std::lock_guard<std::mutex> lock(mtx_);
  return deliveries_;
}

void group_committer::run(pg_session& session) {
  std::unique_lock<std::mutex> lock(mtx_);
  for (;;) {
    work_.wait(lock, [&] { return stopping_ || !waiting_.empty(); });
    if (waiting_.empty()) return;  // stopping, and nothing left to answer
    if (cfg_.gather_at_least > 1 && !stopping_) {
      auto until = std::chrono::steady_clock::now() + cfg_.gather_deadline;
      work_.wait_until(lock, until,
                       [&] { return stopping_ || waiting_.size() >= cfg_.gather_at_least; });
    }
    std::vector<request*> group;
    while (!waiting_.empty() && group.size() < cfg_.max_group) {
      group.push_back(waiting_.front());
      waiting_.pop_front();
    }
    if (group.empty()) continue;  // another thread took them while this one gathered
    lock.unlock();
    std::vector<const success_commit*> commits;
    commits.reserve(group.size());
    for (auto* r : group) commits.push_back(r->commit);
    std::vector<caf::expected<success_outcome>> answers;
    try {
      answers = commit_successes(session, commits);
    } catch (const std::exception& e) {
      answers.clear();  // a test hook threw; never leave a worker waiting
      for (size_t i = 0; i < group.size(); ++i)
        answers.emplace_back(make_error(errc::logic_error, e.what()));
    }
    lock.lock();
    for (size_t i = 0; i < group.size(); ++i) group[i]->answer = std::move(answers[i]);
    ++groups_;
    deliveries_ += group.size();
    answered_.notify_all();
  }
}

}  // namespace postbox

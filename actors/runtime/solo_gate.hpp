// Node-wide: a suspect delivery (an earlier delivery of it was abandoned when its
// node crashed or froze) runs with nothing beside it on the node, so a crash it
// causes is charged to it alone (guarantee 8). Consumers of every queue share one
// gate: while a suspect waits, nobody claims; once nothing runs, it takes its turn.
#pragma once

#include <mutex>

namespace postbox {

class solo_gate {
 public:
  /// A consumer holds `n` more (or, negative, fewer) suspects waiting for their turn.
  void waiting(int n) {
    std::lock_guard<std::mutex> g{mtx_};
    waiting_ += n;
  }
  /// Claim nothing new: a suspect waits for the node to go quiet, or runs now.
  bool quiet_wanted() const {
    std::lock_guard<std::mutex> g{mtx_};
    return waiting_ > 0 || solo_;
  }
  /// An ordinary delivery may start unless a suspect runs alone.
  bool try_start() {
    std::lock_guard<std::mutex> g{mtx_};
    if (solo_) return false;
    ++running_;
    return true;
  }
  /// A suspect may start when nothing else runs on the node. `charged` is false
  /// while threads stuck past max_handler_time still run handlers beside it: then
  /// a crash could be theirs, and must not be charged to the suspect.
  bool try_start_alone(bool& charged) {
    std::lock_guard<std::mutex> g{mtx_};
    if (solo_ || running_ != 0) return false;
    solo_ = true;
    ++running_;
    charged = stuck_ == 0;
    return true;
  }
  void finished(bool alone) {
    std::lock_guard<std::mutex> g{mtx_};
    --running_;
    if (alone) solo_ = false;
  }
  /// A worker thread stuck in a handler was replaced (+1), or came back (-1).
  void stuck(int n) {
    std::lock_guard<std::mutex> g{mtx_};
    stuck_ += n;
  }

 private:
  mutable std::mutex mtx_;
  int running_ = 0;
  int waiting_ = 0;
  int stuck_ = 0;
  bool solo_ = false;
};

}  // namespace postbox

// When a consumer of a queue that serves actor types calls the promotion of woken keys
// (postbox.actor_promote) before its claim. Each call is a round trip and a transaction
// of its own; make bench-actors measured it at a third of a keyed claim + ack. A head's
// ack promotes its key's next message itself, so the promoter is only needed for a send
// that committed after that ack looked: while claims come back full (heads to work on)
// it runs at most every `interval`; after a short claim, before every claim, as before.
#pragma once

#include <chrono>

namespace postbox {

class promotion_pacer {
 public:
  using clock = std::chrono::steady_clock;

  explicit promotion_pacer(std::chrono::milliseconds interval = std::chrono::milliseconds(100))
      : interval_(interval) {}

  /// Whether to promote before the claim about to run at `now`.
  bool due(clock::time_point now) const { return !last_full_ || now >= next_; }
  /// The promotion ran at `now`.
  void promoted(clock::time_point now) { next_ = now + interval_; }
  /// The claim asked for `max` and got `got`.
  void claimed(int got, int max) { last_full_ = max > 0 && got >= max; }

 private:
  std::chrono::milliseconds interval_;
  clock::time_point next_{};
  bool last_full_ = false;
};

}  // namespace postbox

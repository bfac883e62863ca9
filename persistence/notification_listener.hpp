// LISTEN on the mailbox channel over a dedicated connection, so consumers wake
// as soon as a message is sent. Polling stays the fallback: when this
// connection dies, wait() reports it and the next wait() reconnects.
#pragma once

#include <caf/expected.hpp>
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "messages/error.hpp"

namespace postbox {

class notification_listener {
 public:
  notification_listener(std::string dsn, std::string channel = "postbox_mailbox");
  ~notification_listener();

  /// Waits up to `timeout` for notifications; returns their payloads (queue
  /// names), possibly none. Connects (and LISTENs) first when needed.
  caf::expected<std::vector<std::string>> wait(std::chrono::milliseconds timeout);

  /// How many times this listener has connected and LISTENed. A caller that
  /// sees it grow may have missed notifications sent while nobody listened
  /// (before the first connect, or during an outage) and should look itself.
  uint64_t connects() const;

 private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

}  // namespace postbox

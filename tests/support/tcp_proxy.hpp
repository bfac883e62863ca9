// Test support: a TCP forwarder on 127.0.0.1 that can be opened later than its
// clients try it, to stand for a database that is not up yet (or comes back).
#pragma once

#include <atomic>
#include <cstdint>
#include <string>
#include <thread>

namespace postbox::test {

class tcp_proxy {
 public:
  /// Forwards 127.0.0.1:`listen_port` to `to_host`:`to_port` once open() is called.
  tcp_proxy(uint16_t listen_port, std::string to_host, uint16_t to_port);
  ~tcp_proxy();  // closes every connection
  tcp_proxy(const tcp_proxy&) = delete;
  tcp_proxy& operator=(const tcp_proxy&) = delete;

  /// Starts listening; false if the port cannot be bound.
  bool open();
  /// Connections accepted so far.
  int accepted() const { return accepted_; }

 private:
  void run();

  uint16_t listen_port_;
  std::string to_host_;
  uint16_t to_port_;
  int listener_ = -1;
  int wake_[2] = {-1, -1};
  std::atomic<int> accepted_{0};
  std::thread thread_;
};

}  // namespace postbox::test

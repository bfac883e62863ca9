#include "support/tcp_proxy.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <utility>
#include <vector>

namespace postbox::test {

tcp_proxy::tcp_proxy(uint16_t listen_port, std::string to_host, uint16_t to_port)
    : listen_port_(listen_port), to_host_(std::move(to_host)), to_port_(to_port) {}

tcp_proxy::~tcp_proxy() {
  if (wake_[1] >= 0) {
    char c = 'x';
    [[maybe_unused]] auto n = ::write(wake_[1], &c, 1);
  }
  if (thread_.joinable()) thread_.join();
  for (int fd : {listener_, wake_[0], wake_[1]})
    if (fd >= 0) ::close(fd);
}

bool tcp_proxy::open() {
  listener_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (listener_ < 0) return false;
  int one = 1;
  ::setsockopt(listener_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(listen_port_);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::bind(listener_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
      ::listen(listener_, 64) != 0 || ::pipe2(wake_, O_CLOEXEC) != 0)
    return false;
  thread_ = std::thread([this] { run(); });
  return true;
}

void tcp_proxy::run() {
  // Pairs of (client, server) sockets; bytes from one are written to the other.
  std::vector<std::pair<int, int>> pairs;
  std::vector<char> buf(64 * 1024);
  for (;;) {
    std::vector<pollfd> fds{{wake_[0], POLLIN, 0}, {listener_, POLLIN, 0}};
    for (const auto& [a, b] : pairs) {
      fds.push_back({a, POLLIN, 0});
      fds.push_back({b, POLLIN, 0});
    }
    if (::poll(fds.data(), fds.size(), -1) < 0) continue;
    if (fds[0].revents) break;
    if (fds[1].revents & POLLIN) {
      int client = ::accept4(listener_, nullptr, nullptr, SOCK_CLOEXEC);
      if (client >= 0) {
        int server = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        sockaddr_in to{};
        to.sin_family = AF_INET;
        to.sin_port = htons(to_port_);
        ::inet_pton(AF_INET, to_host_.c_str(), &to.sin_addr);
        if (server >= 0 && ::connect(server, reinterpret_cast<sockaddr*>(&to), sizeof to) == 0) {
          pairs.emplace_back(client, server);
          ++accepted_;
        } else {
          ::close(client);
          if (server >= 0) ::close(server);
        }
      }
    }
    std::vector<std::pair<int, int>> alive;
    for (std::size_t i = 0; i < pairs.size(); ++i) {
      auto [a, b] = pairs[i];
      bool open = true;
      for (int side = 0; side < 2 && open; ++side) {
        const pollfd& p = fds[2 + 2 * i + side];
        if (!p.revents) continue;
        int from = side == 0 ? a : b, to = side == 0 ? b : a;
        ssize_t n = ::read(from, buf.data(), buf.size());
        if (n <= 0) {
          open = false;
          break;
        }
        for (ssize_t sent = 0; sent < n;) {
          ssize_t w = ::write(to, buf.data() + sent, static_cast<std::size_t>(n - sent));
          if (w <= 0) {
            open = false;
            break;
          }
          sent += w;
        }
      }
      if (open) {
        alive.emplace_back(a, b);
      } else {
        ::close(a);
        ::close(b);
      }
    }
    pairs = std::move(alive);
  }
  for (const auto& [a, b] : pairs) {
    ::close(a);
    ::close(b);
  }
}

}  // namespace postbox::test

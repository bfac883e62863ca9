#include "actors/runtime/program_instance.hpp"

#include <poll.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <thread>

#include "actors/runtime/log.hpp"
#include "messages/error.hpp"

namespace postbox {

namespace {

using std::chrono::milliseconds;
using std::chrono::steady_clock;

enum class read_state { open, eof };

/// Appends what `fd` has now to `into`; eof when the other end is closed.
read_state read_available(int fd, std::string& into) {
  char buf[65536];
  for (;;) {
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n > 0) {
      into.append(buf, static_cast<std::size_t>(n));
      if (into.size() > program_instance::max_answer + 1) return read_state::open;
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return read_state::open;
    return read_state::eof;
  }
}

milliseconds backoff(int failures) {
  if (failures <= 0) return milliseconds(0);
  const int shift = std::min(failures - 1, 6);
  return std::min(milliseconds(200) * (1 << shift), milliseconds(10000));
}

constexpr std::size_t max_log_line = 4096;

}  // namespace

program_instance::program_instance(program_config cfg, std::string owner)
    : cfg_(std::move(cfg)), owner_(std::move(owner)) {}

program_instance::~program_instance() {
  if (!proc_) return;
  proc_->close_stdin();
  proc_->stop(1000);
  drain_stderr(0, true);
}

std::string program_instance::tag(int64_t message_id) const {
  std::string t = "program " + cfg_.name;
  if (proc_) t += "[" + std::to_string(proc_->pid()) + "]";
  return t + (message_id > 0 ? " message " + std::to_string(message_id) : "");
}

void program_instance::drain_stderr(int64_t message_id, bool flush) {
  if (!proc_ || proc_->stderr_fd() < 0) return;
  const bool eof = read_available(proc_->stderr_fd(), err_) == read_state::eof;
  for (;;) {
    std::size_t nl = err_.find('\n');
    if (nl == std::string::npos && err_.size() < max_log_line && !(flush || eof)) break;
    if (nl == std::string::npos && err_.empty()) break;
    std::size_t len = std::min(nl == std::string::npos ? err_.size() : nl, max_log_line);
    std::string line = err_.substr(0, len);
    err_.erase(0, len == nl ? nl + 1 : len);
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.empty()) continue;
    last_err_line_ = line;
    log_line(owner_, tag(message_id) + ": " + line);
  }
}

void program_instance::lost(const std::string& why) {
  ++failures_;
  not_before_ = steady_clock::now() + backoff(failures_);
  if (proc_) {
    proc_->stop(0);
    drain_stderr(0, true);
  }
  log_line(owner_, tag(0) + " " + why + "; restarting in " +
                       std::to_string(backoff(failures_).count()) + "ms");
  proc_.reset();
  out_.clear();
  err_.clear();
}

void program_instance::restart(const std::string& why) {
  if (proc_) lost(why);
}

void program_instance::tend() {
  std::string error;
  (void)ensure_started(steady_clock::now(), error);  // never waits; failures are logged
}

void program_instance::answered() {
  failures_ = 0;
}

bool program_instance::ensure_started(steady_clock::time_point deadline, std::string& error) {
  if (proc_) {
    // Between answers the program must be silent on stdout, and alive.
    const bool eof = read_available(proc_->stdout_fd(), out_) == read_state::eof;
    drain_stderr(0, false);
    if (eof || proc_->exited()) {
      proc_->stop(1000);
      lost(proc_->exit_text() + " while idle");
    } else if (!out_.empty()) {
      lost("wrote " + std::to_string(out_.size()) + " bytes on stdout outside an answer");
    }
  }
  if (proc_) return true;
  if (steady_clock::now() < not_before_) {
    if (not_before_ >= deadline) {
      error = "program " + cfg_.name + " is restarting after " + std::to_string(failures_) +
              " failure(s) in a row";
      return false;
    }
    std::this_thread::sleep_until(not_before_);
  }
  auto p = child_process::start(cfg_.argv, cfg_.env);
  if (!p) {
    ++failures_;
    not_before_ = steady_clock::now() + backoff(failures_);
    error = "program " + cfg_.name + ": " + detail_of(p.error());
    log_line(owner_,
             error + "; trying again in " + std::to_string(backoff(failures_).count()) + "ms");
    return false;
  }
  proc_ = std::move(*p);
  out_.clear();
  err_.clear();
  log_line(owner_, tag(0) + " started");
  return true;
}

caf::expected<std::string> program_instance::exchange(const std::string& request,
                                                      int64_t message_id,
                                                      steady_clock::time_point deadline,
                                                      const std::string& limit_text) {
  std::string error;
  if (!ensure_started(deadline, error)) return make_error(errc::transient, error);
  const std::string who = tag(0);
  const std::string line = request + "\n";
  std::size_t written = 0;
  bool err_open = true;
  last_err_line_.clear();
  for (;;) {
    if (std::size_t nl = out_.find('\n'); nl != std::string::npos) {
      std::string answer = out_.substr(0, nl);
      out_.erase(0, nl + 1);  // anything left is out of step: the next exchange restarts
      drain_stderr(message_id, false);
      if (!answer.empty() && answer.back() == '\r') answer.pop_back();
      return answer;
    }
    if (out_.size() > max_answer) {
      error = who + " answered more than " + std::to_string(max_answer >> 20) +
              " MiB without a newline; killed";
      lost("answered too much");
      return make_error(errc::logic_error, error);
    }
    const auto now = steady_clock::now();
    if (now >= deadline) {
      error = who + " did not answer within " + limit_text + "; killed";
      proc_->kill();
      lost("did not answer in time");
      return make_error(errc::logic_error, error);
    }
    pollfd fds[3];
    nfds_t n = 0;
    fds[n++] = {proc_->stdout_fd(), POLLIN, 0};
    const bool writing = written < line.size();
    if (writing) fds[n++] = {proc_->stdin_fd(), POLLOUT, 0};
    if (err_open) fds[n++] = {proc_->stderr_fd(), POLLIN, 0};
    auto wait = std::chrono::duration_cast<milliseconds>(deadline - now).count() + 1;
    int rc = ::poll(fds, n, static_cast<int>(std::min<int64_t>(wait, 1000)));
    if (rc < 0 && errno != EINTR) {
      error = who + ": poll: " + std::to_string(errno);
      lost("could not be watched");
      return make_error(errc::logic_error, error);
    }
    if (writing) {
      ssize_t w = ::write(proc_->stdin_fd(), line.data() + written, line.size() - written);
      if (w > 0)
        written += static_cast<std::size_t>(w);
      else if (w < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
        written = line.size();  // EPIPE: it is gone or closed stdin; stdout tells the rest
    }
    if (err_open && read_available(proc_->stderr_fd(), err_) == read_state::eof) err_open = false;
    drain_stderr(message_id, false);
    if (read_available(proc_->stdout_fd(), out_) == read_state::eof &&
        out_.find('\n') == std::string::npos) {
      proc_->stop(1000);
      drain_stderr(message_id, true);
      error = who + " " + proc_->exit_text() + " before answering";
      if (!last_err_line_.empty()) error += " (its last stderr line: " + last_err_line_ + ")";
      lost(proc_->exit_text() + " while handling message " + std::to_string(message_id));
      return make_error(errc::logic_error, error);
    }
  }
}

}  // namespace postbox

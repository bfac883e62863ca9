// The `exec` processor: runs an external program per file (argv with {path}/{name}, no shell)
// under a timeout; its stdout, a JSON object, is the result. Safe to run from many threads.
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <boost/json.hpp>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <memory>
#include <system_error>
#include <vector>

#include "actors/pipeline/processors/processor.hpp"
#include "messages/error.hpp"

namespace postbox {

namespace json = boost::json;
using std::chrono::milliseconds;

namespace {

constexpr std::size_t stdout_cap = 1024 * 1024;
constexpr std::size_t stderr_keep = 4096;
// Longer than any sane per-file run; also keeps deadline arithmetic far from overflow.
constexpr int64_t max_timeout_ms = 7LL * 24 * 3600 * 1000;

struct exec_options {
  std::vector<std::string> argv;
  milliseconds timeout{30000};
};

std::string reason(int err) {
  return std::error_code(err, std::generic_category()).message();
}

std::string format_duration(milliseconds d) {
  const auto ms = d.count();
  if (ms % 3600000 == 0) return std::to_string(ms / 3600000) + "h";
  if (ms % 60000 == 0) return std::to_string(ms / 60000) + "m";
  if (ms % 1000 == 0) return std::to_string(ms / 1000) + "s";
  return std::to_string(ms) + "ms";
}

// `500ms`, `30s`, `2m`, `1h`: the topology's duration syntax.
bool parse_duration(const std::string& s, milliseconds& out) {
  std::size_t i = 0;
  int64_t n = 0;
  while (i < s.size() && s[i] >= '0' && s[i] <= '9') {
    if (i >= 12) return false;
    n = n * 10 + (s[i] - '0');
    ++i;
  }
  if (i == 0) return false;
  const std::string unit = s.substr(i);
  int64_t factor = 0;
  if (unit == "ms")
    factor = 1;
  else if (unit == "s")
    factor = 1000;
  else if (unit == "m")
    factor = 60000;
  else if (unit == "h")
    factor = 3600000;
  else
    return false;
  out = milliseconds(n * factor);
  return true;
}

/// "{path}" and "{name}" replaced in one left-to-right pass, so a path that itself
/// contains "{name}" is not substituted again.
std::string substitute(const std::string& arg, const file_input& in) {
  std::string out;
  out.reserve(arg.size());
  for (std::size_t i = 0; i < arg.size();) {
    if (arg.compare(i, 6, "{path}") == 0) {
      out += in.path;
      i += 6;
    } else if (arg.compare(i, 6, "{name}") == 0) {
      out += in.name;
      i += 6;
    } else {
      out += arg[i++];
    }
  }
  return out;
}

class unique_fd {
 public:
  unique_fd() = default;
  explicit unique_fd(int fd) : fd_(fd) {}
  unique_fd(const unique_fd&) = delete;
  unique_fd& operator=(const unique_fd&) = delete;
  ~unique_fd() { reset(); }
  int get() const { return fd_; }
  void reset(int fd = -1) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = fd;
  }

 private:
  int fd_ = -1;
};

// The child's stdio is set up with dup2 onto 0..2; a source fd already in that range (the
// server started with a closed stdin, say) could be clobbered, so move every fd above it.
bool raise_fd(unique_fd& fd) {
  if (fd.get() >= 3) return true;
  int moved = ::fcntl(fd.get(), F_DUPFD_CLOEXEC, 3);
  if (moved < 0) return false;
  fd.reset(moved);
  return true;
}

bool make_pipe(unique_fd& r, unique_fd& w) {
  int p[2];
  if (::pipe2(p, O_CLOEXEC) != 0) return false;
  r.reset(p[0]);
  w.reset(p[1]);
  return raise_fd(r) && raise_fd(w);
}

/// Kills and reaps the child unless it was reaped already, also when an exception leaves
/// process() early, so no child outlives its call and no zombie is left behind.
class child_guard {
 public:
  explicit child_guard(pid_t pid) : pid_(pid) {}
  child_guard(const child_guard&) = delete;
  child_guard& operator=(const child_guard&) = delete;
  ~child_guard() {
    if (pid_ > 0) {
      kill_group();
      int status = 0;
      reap(status);
    }
  }
  // Safe until the child is reaped: a zombie leader keeps its pid (and so its group id)
  // reserved, so this never hits an unrelated process group.
  void kill_group() {
    if (::kill(-pid_, SIGKILL) != 0) ::kill(pid_, SIGKILL);
  }
  /// True once the child has exited (or is unknown to us); does not reap it.
  bool exited() {
    siginfo_t info{};
    if (::waitid(P_PID, static_cast<id_t>(pid_), &info, WEXITED | WNOHANG | WNOWAIT) != 0)
      return errno != EINTR;
    return info.si_pid == pid_;
  }
  /// Blocks until the child is reaped; false when its status is unavailable (SIGCHLD ignored).
  bool reap(int& status) {
    pid_t r;
    do {
      r = ::waitpid(pid_, &status, 0);
    } while (r < 0 && errno == EINTR);
    pid_ = -1;
    return r > 0;
  }

 private:
  pid_t pid_;
};

// Runs between fork and exec in a copy of a multi-threaded process: async-signal-safe calls
// only, everything else was prepared by the parent.
[[noreturn]] void run_child(char* const* argv, int stdin_fd, int out_fd, int err_fd, int report_fd,
                            int max_fd) {
  ::setpgid(0, 0);
  struct sigaction dfl {};
  dfl.sa_handler = SIG_DFL;
  for (int sig = 1; sig < NSIG; ++sig) ::sigaction(sig, &dfl, nullptr);
  sigset_t none;
  ::sigemptyset(&none);
  ::sigprocmask(SIG_SETMASK, &none, nullptr);
  if (::dup2(stdin_fd, 0) < 0 || ::dup2(out_fd, 1) < 0 || ::dup2(err_fd, 2) < 0) {
    int e = errno;
    [[maybe_unused]] auto n = ::write(report_fd, &e, sizeof e);
    ::_exit(127);
  }
  // Inherited fds (sockets, database connections) must not leak into the program; the
  // report pipe is already close-on-exec, so marking all >= 3 keeps it open until exec.
  if (::close_range(3, ~0U, CLOSE_RANGE_CLOEXEC) != 0)
    for (int fd = 3; fd < max_fd; ++fd) ::fcntl(fd, F_SETFD, FD_CLOEXEC);
  ::execvp(argv[0], argv);
  int e = errno;
  [[maybe_unused]] auto n = ::write(report_fd, &e, sizeof e);
  ::_exit(127);
}

/// Reads what `fd` has now; false at EOF or on an error.
template <class Sink>
bool read_available(int fd, std::vector<char>& buf, Sink&& sink) {
  for (;;) {
    ssize_t n = ::read(fd, buf.data(), buf.size());
    if (n > 0) {
      sink(buf.data(), static_cast<std::size_t>(n));
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return true;
    return false;
  }
}

std::string tail_of(std::string s) {
  while (!s.empty() &&
         (s.back() == '\n' || s.back() == '\r' || s.back() == ' ' || s.back() == '\t'))
    s.pop_back();
  return detail::sanitize_text(s);
}

class exec_processor : public processor {
 public:
  explicit exec_processor(exec_options opts) : opts_(std::move(opts)) {}

  processor_outcome process(const file_input& in) override {
    try {
      return run(in);
    } catch (const std::exception& e) {
      return fail(std::string("exec: ") + e.what());
    } catch (...) {
      return fail("exec: unexpected error");
    }
  }

 private:
  static processor_outcome fail(std::string why) {
    processor_outcome out;
    out.error = std::move(why);
    return out;
  }

  processor_outcome run(const file_input& in) {
    std::vector<std::string> args;
    args.reserve(opts_.argv.size());
    for (const auto& a : opts_.argv) args.push_back(substitute(a, in));
    for (const auto& a : args)
      if (a.find('\0') != std::string::npos)
        return fail("exec: an argument contains a NUL byte after substitution");
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);

    unique_fd devnull(::open("/dev/null", O_RDONLY | O_CLOEXEC));
    if (devnull.get() < 0 || !raise_fd(devnull))
      return fail("exec: cannot open /dev/null: " + reason(errno));
    unique_fd out_r, out_w, err_r, err_w, rep_r, rep_w;
    if (!make_pipe(out_r, out_w) || !make_pipe(err_r, err_w) || !make_pipe(rep_r, rep_w))
      return fail("exec: cannot create a pipe: " + reason(errno));
    long open_max = ::sysconf(_SC_OPEN_MAX);
    const int max_fd = open_max <= 0 || open_max > 65536 ? 65536 : static_cast<int>(open_max);

    const pid_t pid = ::fork();
    if (pid < 0) return fail("exec: cannot fork: " + reason(errno));
    if (pid == 0)
      run_child(argv.data(), devnull.get(), out_w.get(), err_w.get(), rep_w.get(), max_fd);
    child_guard child(pid);
    // Also set from here, so the group exists even if we kill before the child ran setpgid.
    ::setpgid(pid, pid);
    devnull.reset();
    out_w.reset();
    err_w.reset();
    rep_w.reset();

    // Returns at exec (close-on-exec gives EOF) or with the errno of the failed exec.
    int exec_errno = 0;
    ssize_t got;
    do {
      got = ::read(rep_r.get(), &exec_errno, sizeof exec_errno);
    } while (got < 0 && errno == EINTR);
    if (got == static_cast<ssize_t>(sizeof exec_errno)) {
      int status = 0;
      child.reap(status);
      return fail("exec: cannot execute '" + detail::sanitize_text(args[0]) +
                  "': " + reason(exec_errno));
    }
    rep_r.reset();

    ::fcntl(out_r.get(), F_SETFL, O_NONBLOCK);
    ::fcntl(err_r.get(), F_SETFL, O_NONBLOCK);
#ifdef SYS_pidfd_open
    // Lets poll() wake on the child's exit; without it (old kernels) we poll on a short tick.
    unique_fd pidfd(static_cast<int>(::syscall(SYS_pidfd_open, pid, 0)));
#else
    unique_fd pidfd;
#endif

    std::string out, err;
    bool out_overflow = false;
    auto out_sink = [&](const char* p, std::size_t n) {
      if (out.size() + n > stdout_cap) {
        out_overflow = true;
        return;
      }
      out.append(p, n);
    };
    auto err_sink = [&](const char* p, std::size_t n) {
      err.append(p, n);
      if (err.size() > 2 * stderr_keep) err.erase(0, err.size() - stderr_keep);
    };
    std::vector<char> buf(64 * 1024);
    bool out_open = true, err_open = true, timed_out = false;
    const auto deadline = std::chrono::steady_clock::now() + opts_.timeout;
    for (;;) {
      if (child.exited()) {
        // What the child wrote is in the pipes now; anything still holding them open is a
        // leftover of its process group, which must not outlive the call.
        child.kill_group();
        if (out_open) read_available(out_r.get(), buf, out_sink);
        if (err_open) read_available(err_r.get(), buf, err_sink);
        break;
      }
      const auto now = std::chrono::steady_clock::now();
      if (now >= deadline) {
        timed_out = true;
        child.kill_group();
        break;
      }
      auto wait = std::chrono::ceil<milliseconds>(deadline - now).count();
      if (pidfd.get() < 0 && wait > 10) wait = 10;
      pollfd fds[3];
      nfds_t nfds = 0;
      if (out_open) fds[nfds++] = {out_r.get(), POLLIN, 0};
      if (err_open) fds[nfds++] = {err_r.get(), POLLIN, 0};
      if (pidfd.get() >= 0) fds[nfds++] = {pidfd.get(), POLLIN, 0};
      if (::poll(fds, nfds, static_cast<int>(wait)) < 0 && errno != EINTR)
        return fail("exec: poll failed: " + reason(errno));
      if (out_open) out_open = read_available(out_r.get(), buf, out_sink);
      if (err_open) err_open = read_available(err_r.get(), buf, err_sink);
    }

    int status = 0;
    const bool have_status = child.reap(status);
    if (err.size() > stderr_keep) err.erase(0, err.size() - stderr_keep);
    const std::string tail = tail_of(err);
    const auto with_tail = [&](std::string msg) { return tail.empty() ? msg : msg + ": " + tail; };
    if (timed_out) return fail(with_tail("timed out after " + format_duration(opts_.timeout)));
    if (!have_status) return fail(with_tail("exec: exit status unavailable"));
    if (WIFSIGNALED(status)) {
      const char* abbrev = ::sigabbrev_np(WTERMSIG(status));
      return fail(with_tail("killed by signal " + std::to_string(WTERMSIG(status)) +
                            (abbrev ? std::string(" (SIG") + abbrev + ")" : std::string())));
    }
    if (!WIFEXITED(status)) return fail(with_tail("exec: unexpected wait status"));
    if (WEXITSTATUS(status) != 0)
      return fail(with_tail("exit code " + std::to_string(WEXITSTATUS(status))));
    if (out_overflow) return fail("stdout exceeds 1 MiB");
    json::error_code ec;
    json::value v = json::parse(out, ec);
    if (ec) return fail("stdout is not a JSON object: " + ec.message());
    if (!v.is_object())
      return fail("stdout is not a JSON object (got " + std::string(json::to_string(v.kind())) +
                  ")");
    processor_outcome ok;
    ok.ok = true;
    ok.result_json = json::serialize(v);
    return ok;
  }

  exec_options opts_;
};

caf::error bad(const std::string& text) {
  return make_error(errc::invalid_argument, "exec: " + text);
}

}  // namespace

namespace detail {

caf::expected<std::unique_ptr<processor>> make_exec_processor(const std::string& options_json) {
  exec_options opts;
  bool have_argv = false;
  if (!options_json.empty()) {
    json::error_code ec;
    json::value v = json::parse(options_json, ec);
    if (ec) return bad("options are not valid JSON: " + ec.message());
    const json::object* o = v.if_object();
    if (!o) return bad("options must be an object");
    for (const auto& kv : *o) {
      const std::string key(kv.key());
      if (key == "argv") {
        const json::array* a = kv.value().if_array();
        if (!a || a->empty()) return bad("option 'argv' must be a non-empty array of strings");
        for (std::size_t i = 0; i < a->size(); ++i) {
          const json::string* s = (*a)[i].if_string();
          const std::string where = "option 'argv[" + std::to_string(i) + "]'";
          if (!s) return bad(where + " must be a string");
          if (s->find('\0') != json::string::npos) return bad(where + " contains a NUL byte");
          if (i == 0 && s->empty()) return bad(where + " (the program) must not be empty");
          opts.argv.emplace_back(*s);
        }
        have_argv = true;
      } else if (key == "timeout") {
        const json::value& t = kv.value();
        int64_t ms = -1;
        if (const int64_t* n = t.if_int64()) {
          ms = *n;
        } else if (const json::string* s = t.if_string()) {
          milliseconds d{};
          if (parse_duration(std::string(*s), d)) ms = d.count();
        }
        if (ms <= 0 || ms > max_timeout_ms)
          return bad(
              "option 'timeout' must be a positive duration like \"500ms\", \"30s\", \"2m\" "
              "or an integer of milliseconds, at most 7 days");
        opts.timeout = milliseconds(ms);
      } else {
        return bad("unknown option '" + key + "' (known: argv, timeout)");
      }
    }
  }
  if (!have_argv) return bad("option 'argv' is required");
  return std::unique_ptr<processor>(new exec_processor(std::move(opts)));
}

}  // namespace detail

}  // namespace postbox

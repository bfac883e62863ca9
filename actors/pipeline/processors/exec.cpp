// The `exec` processor: runs an external program per file (argv with {path}/{name}, no shell)
// under a timeout; its stdout, a JSON object, is the result. Safe to run from many threads.
#include <poll.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <boost/json.hpp>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <map>
#include <memory>
#include <system_error>
#include <vector>

#include "actors/pipeline/processors/processor.hpp"
#include "actors/runtime/child_process.hpp"
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
  /// The program's environment besides PATH, HOME and LANG (child_process).
  std::map<std::string, std::string> env;
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
    // No stdin (EOF at once); its own process group, killed with everything it started.
    auto started = child_process::start(args, opts_.env);
    if (!started) return fail("exec: " + detail_of(started.error()));
    auto& child = **started;
    child.close_stdin();
#ifdef SYS_pidfd_open
    // Lets poll() wake on the child's exit; without it (old kernels) we poll on a short tick.
    const int pidfd = static_cast<int>(::syscall(SYS_pidfd_open, child.pid(), 0));
#else
    const int pidfd = -1;
#endif
    struct fd_closer {
      int fd;
      ~fd_closer() {
        if (fd >= 0) ::close(fd);
      }
    } close_pidfd{pidfd};

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
        // What it wrote is in the pipes now; exited() killed the leftovers of its
        // process group, which may still hold them open.
        if (out_open) read_available(child.stdout_fd(), buf, out_sink);
        if (err_open) read_available(child.stderr_fd(), buf, err_sink);
        break;
      }
      const auto now = std::chrono::steady_clock::now();
      if (now >= deadline) {
        timed_out = true;
        child.stop(0);
        break;
      }
      auto wait = std::chrono::ceil<milliseconds>(deadline - now).count();
      if (pidfd < 0 && wait > 10) wait = 10;
      pollfd fds[3];
      nfds_t nfds = 0;
      if (out_open) fds[nfds++] = {child.stdout_fd(), POLLIN, 0};
      if (err_open) fds[nfds++] = {child.stderr_fd(), POLLIN, 0};
      if (pidfd >= 0) fds[nfds++] = {pidfd, POLLIN, 0};
      if (::poll(fds, nfds, static_cast<int>(wait)) < 0 && errno != EINTR)
        return fail("exec: poll failed: " + reason(errno));
      if (out_open) out_open = read_available(child.stdout_fd(), buf, out_sink);
      if (err_open) err_open = read_available(child.stderr_fd(), buf, err_sink);
    }

    if (err.size() > stderr_keep) err.erase(0, err.size() - stderr_keep);
    const std::string tail = tail_of(err);
    const auto with_tail = [&](std::string msg) { return tail.empty() ? msg : msg + ": " + tail; };
    if (timed_out) return fail(with_tail("timed out after " + format_duration(opts_.timeout)));
    if (int sig = child.term_signal()) {
      const char* abbrev = ::sigabbrev_np(sig);
      return fail(with_tail("killed by signal " + std::to_string(sig) +
                            (abbrev ? std::string(" (SIG") + abbrev + ")" : std::string())));
    }
    if (child.exit_code() < 0) return fail(with_tail("exec: exit status unavailable"));
    if (child.exit_code() != 0)
      return fail(with_tail("exit code " + std::to_string(child.exit_code())));
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
      } else if (key == "env") {
        const json::object* vars = kv.value().if_object();
        if (!vars) return bad("option 'env' must be an object of strings");
        for (const auto& var : *vars) {
          const json::string* v = var.value().if_string();
          const std::string name(var.key());
          if (!v || v->find('\0') != json::string::npos || name.empty() ||
              name.find_first_of("=\0") != std::string::npos)
            return bad("option 'env." + name + "' must be a string without NUL bytes");
          opts.env[name] = std::string(*v);
        }
      } else {
        return bad("unknown option '" + key + "' (known: argv, timeout, env)");
      }
    }
  }
  if (!have_argv) return bad("option 'argv' is required");
  return std::unique_ptr<processor>(new exec_processor(std::move(opts)));
}

}  // namespace detail

}  // namespace postbox

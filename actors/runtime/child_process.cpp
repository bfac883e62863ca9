#include "actors/runtime/child_process.hpp"

#include <fcntl.h>
#include <poll.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstdlib>
#include <cstring>

#include "messages/error.hpp"

namespace postbox {

namespace {

std::string errno_text(int e) {
  return std::strerror(e);
}

}  // namespace

caf::expected<std::string> find_executable(const std::string& program) {
  if (program.find('/') != std::string::npos) {
    if (::access(program.c_str(), X_OK) == 0) return program;
    return make_error(errc::config_error, "cannot start '" + program + "': " + errno_text(errno));
  }
  const char* path = std::getenv("PATH");
  std::string dirs = path ? path : "/usr/local/bin:/usr/bin:/bin";
  std::size_t start = 0;
  for (;;) {
    std::size_t end = dirs.find(':', start);
    std::string dir =
        dirs.substr(start, end == std::string::npos ? std::string::npos : end - start);
    std::string candidate = (dir.empty() ? std::string(".") : dir) + "/" + program;
    struct stat st {};
    if (::stat(candidate.c_str(), &st) == 0 && S_ISREG(st.st_mode) &&
        ::access(candidate.c_str(), X_OK) == 0)
      return candidate;
    if (end == std::string::npos) break;
    start = end + 1;
  }
  return make_error(errc::config_error, "cannot start '" + program + "': not found on PATH");
}

namespace {

/// A pipe whose ends are both >= 3 (the child's dup2 onto 0..2 must not clobber one)
/// and close-on-exec.
bool make_pipe(int (&fds)[2]) {
  if (::pipe2(fds, O_CLOEXEC) != 0) return false;
  for (int& fd : fds) {
    if (fd >= 3) continue;
    int moved = ::fcntl(fd, F_DUPFD_CLOEXEC, 3);
    ::close(fd);
    if (moved < 0) return false;
    fd = moved;
  }
  return true;
}

void close_fd(int& fd) {
  if (fd >= 0) ::close(fd);
  fd = -1;
}

/// What the child needs, all prepared by the parent (the child may not allocate).
struct exec_plan {
  const char* path;
  char* const* argv;
  char* const* envp;
  /// `/bin/sh path args...`: what execvp runs for a file without a #! line (ENOEXEC).
  char* const* sh_argv;
  /// Above every fd the child may have inherited, for the close-on-exec fallback.
  int max_fd;
};

// Between fork and exec in a copy of a multi-threaded process: async-signal-safe calls
// only; the parent prepared every argument. The program's own process: default signal
// dispositions, an empty mask, pipes on 0..2, nothing else inherited.
[[noreturn]] void run_program(const exec_plan& plan, int in, int out, int err, int report,
                              pid_t shim) {
  ::prctl(PR_SET_PDEATHSIG, SIGKILL);  // should the shim alone be killed
  if (::getppid() != shim) ::_exit(127);
  struct sigaction dfl {};
  dfl.sa_handler = SIG_DFL;
  for (int sig = 1; sig < NSIG; ++sig) ::sigaction(sig, &dfl, nullptr);
  sigset_t none;
  ::sigemptyset(&none);
  ::sigprocmask(SIG_SETMASK, &none, nullptr);
  if (::dup2(in, 0) < 0 || ::dup2(out, 1) < 0 || ::dup2(err, 2) < 0) {
    int e = errno;
    [[maybe_unused]] auto n = ::write(report, &e, sizeof e);
    ::_exit(127);
  }
  // Inherited fds (sockets, database connections) must not leak into the program; the
  // report pipe is close-on-exec already, so it stays open until exec. Kernels before
  // 5.11 have no CLOSE_RANGE_CLOEXEC: mark them one by one.
  if (::close_range(3, ~0U, CLOSE_RANGE_CLOEXEC) != 0)
    for (int fd = 3; fd < plan.max_fd; ++fd) ::fcntl(fd, F_SETFD, FD_CLOEXEC);
  ::execve(plan.path, plan.argv, plan.envp);
  if (errno == ENOEXEC) ::execve("/bin/sh", plan.sh_argv, plan.envp);  // a script with no #!
  int e = errno;
  [[maybe_unused]] auto n = ::write(report, &e, sizeof e);
  ::_exit(127);
}

/// "/proc/self/task/<pid>/children" for `pid`, without allocating.
void children_path(char (&buf)[64], pid_t pid) {
  const char head[] = "/proc/self/task/";
  const char tail[] = "/children";
  std::size_t i = 0;
  for (const char* c = head; *c; ++c) buf[i++] = *c;
  char digits[16];
  std::size_t n = 0;
  for (auto v = static_cast<unsigned long>(pid); n == 0 || v > 0; v /= 10)
    digits[n++] = static_cast<char>('0' + v % 10);
  while (n > 0) buf[i++] = digits[--n];
  for (const char* c = tail; *c; ++c) buf[i++] = *c;
  buf[i] = '\0';
}

/// SIGKILL to every child of the shim and to the process group each leads; how many
/// there were. Async-signal-safe.
int kill_children(pid_t self) {
  char path[64];
  children_path(path, self);
  int fd = ::open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return 0;
  char buf[4096];
  ssize_t n = ::read(fd, buf, sizeof buf);
  ::close(fd);
  int killed = 0;
  long pid = 0;
  for (ssize_t i = 0; i <= n; ++i) {
    if (i < n && buf[i] >= '0' && buf[i] <= '9') {
      pid = pid * 10 + (buf[i] - '0');
      continue;
    }
    if (pid > 0) {
      ::kill(static_cast<pid_t>(-pid), SIGKILL);
      ::kill(static_cast<pid_t>(pid), SIGKILL);
      ++killed;
    }
    pid = 0;
  }
  return killed;
}

/// Kills the program's whole tree, also what left its process group (setsid, a
/// double-forked daemon): the shim is a subreaper, so each process whose parent dies
/// becomes its child, and is killed in the next round. Reaps as it goes.
/// Async-signal-safe.
void kill_tree(pid_t self) {
  const struct timespec pause = {0, 5 * 1000 * 1000};
  for (int round = 0; round < 200; ++round) {
    const int killed = kill_children(self);
    int status = 0;
    while (::waitpid(-1, &status, WNOHANG) > 0) {
    }
    if (killed == 0) return;
    ::nanosleep(&pause, nullptr);
  }
}

// The direct child is a shim, not the program: it leads a process group holding the
// program and what it starts, is a subreaper (orphans of that tree become its
// children), and outlives nothing: when the thread that started it ends (the node
// killed -9, a worker gone) PR_SET_PDEATHSIG wakes it and it kills its group and its
// children. PR_SET_PDEATHSIG on the program alone would spare the program's own
// children. The shim ends as the program ended (its exit status, or its signal), so the
// parent reads the program's fate from it. It never execs: async-signal-safe calls only.
[[noreturn]] void run_child(const exec_plan& plan, int in, int out, int err, int report,
                            pid_t parent) {
  ::setpgid(0, 0);
  sigset_t all;
  ::sigfillset(&all);
  ::sigprocmask(SIG_SETMASK, &all, nullptr);  // taken below with sigtimedwait only
  ::prctl(PR_SET_CHILD_SUBREAPER, 1);
  ::prctl(PR_SET_PDEATHSIG, SIGTERM);
  if (::getppid() != parent) ::_exit(127);  // the parent died before prctl
  const pid_t shim = ::getpid();
  const pid_t program = ::fork();
  if (program < 0) {
    int e = errno;
    [[maybe_unused]] auto n = ::write(report, &e, sizeof e);
    ::_exit(127);
  }
  if (program == 0) run_program(plan, in, out, err, report, shim);
  // The shim holds nothing: the pipes' ends (so EOF reaches the node when the program
  // dies), sockets and database connections it inherited are closed.
  if (::close_range(3, ~0U, 0) != 0)
    for (int fd = 3; fd < plan.max_fd; ++fd) ::close(fd);
  const pid_t self = shim;
  const struct timespec tick = {1, 0};
  for (;;) {
    siginfo_t info{};
    const int sig = ::sigtimedwait(&all, &info, &tick);
    if (sig == SIGTERM || ::getppid() != parent) {  // our parent thread (or process) is gone
      ::kill(program, SIGKILL);
      kill_tree(self);
      ::kill(0, SIGKILL);  // what is left of the group, this shim too
      ::_exit(137);
    }
    int status = 0;
    bool ended = false;
    for (pid_t w; (w = ::waitpid(-1, &status, WNOHANG)) > 0;) {
      if (w != program) continue;  // an orphan of the program's tree, reaped
      ended = true;
      break;
    }
    if (!ended) continue;
    // What the program left behind dies now, also outside its group.
    kill_tree(self);
    if (WIFEXITED(status)) ::_exit(WEXITSTATUS(status));
    const int how = WIFSIGNALED(status) ? WTERMSIG(status) : SIGKILL;
    const struct rlimit no_core = {0, 0};
    ::setrlimit(RLIMIT_CORE, &no_core);  // the program's core (if any) is the one that counts
    struct sigaction dfl {};
    dfl.sa_handler = SIG_DFL;
    ::sigaction(how, &dfl, nullptr);
    sigset_t one;
    ::sigemptyset(&one);
    ::sigaddset(&one, how);
    ::kill(self, how);
    ::sigprocmask(SIG_UNBLOCK, &one, nullptr);
    ::_exit(128 + how);
  }
}

}  // namespace

caf::expected<std::unique_ptr<child_process>> child_process::start(
    const std::vector<std::string>& argv, const std::map<std::string, std::string>& env) {
  if (argv.empty() || argv[0].empty())
    return make_error(errc::config_error, "cannot start a program without argv");
  auto path = find_executable(argv[0]);
  if (!path) return path.error();
  std::vector<std::string> args = argv;
  std::vector<char*> arg_ptrs;
  for (auto& a : args) arg_ptrs.push_back(a.data());
  arg_ptrs.push_back(nullptr);
  // Only what the caller lists, plus PATH, HOME and LANG of ours: never the node's
  // secrets (POSTBOX_DSN with its password, the control token).
  std::vector<std::string> vars;
  for (const char* name : inherited_variables)
    if (const char* v = std::getenv(name); v && !env.count(name))
      vars.push_back(std::string(name) + "=" + v);
  for (const auto& [k, v] : env) vars.push_back(k + "=" + v);
  std::vector<char*> env_ptrs;
  for (auto& v : vars) env_ptrs.push_back(v.data());
  env_ptrs.push_back(nullptr);
  std::string sh = "/bin/sh";
  std::vector<char*> sh_ptrs{sh.data(), path->data()};
  for (std::size_t i = 1; i < args.size(); ++i) sh_ptrs.push_back(args[i].data());
  sh_ptrs.push_back(nullptr);
  const long open_max = ::sysconf(_SC_OPEN_MAX);
  const exec_plan plan{path->c_str(), arg_ptrs.data(), env_ptrs.data(), sh_ptrs.data(),
                       open_max <= 0 || open_max > 65536 ? 65536 : static_cast<int>(open_max)};

  int in[2] = {-1, -1}, out[2] = {-1, -1}, err[2] = {-1, -1}, report[2] = {-1, -1};
  auto close_all = [&] {
    for (int* p : {in, out, err, report}) {
      close_fd(p[0]);
      close_fd(p[1]);
    }
  };
  if (!make_pipe(in) || !make_pipe(out) || !make_pipe(err) || !make_pipe(report)) {
    int e = errno;
    close_all();
    return make_error(errc::io_error, "cannot start '" + argv[0] + "': pipe: " + errno_text(e));
  }
  const pid_t parent = ::getpid();
  pid_t pid = ::fork();
  if (pid < 0) {
    int e = errno;
    close_all();
    return make_error(errc::io_error, "cannot start '" + argv[0] + "': fork: " + errno_text(e));
  }
  if (pid == 0) run_child(plan, in[0], out[1], err[1], report[1], parent);
  // Ours: the parent's copies of the child's ends close; the report pipe tells whether
  // execve worked (EOF: it did, the close-on-exec end went away).
  close_fd(in[0]);
  close_fd(out[1]);
  close_fd(err[1]);
  close_fd(report[1]);
  std::unique_ptr<child_process> child{new child_process()};
  child->pid_ = pid;
  child->in_ = in[1];
  child->out_ = out[0];
  child->err_ = err[0];
  int child_errno = 0;
  ssize_t n;
  do {
    n = ::read(report[0], &child_errno, sizeof child_errno);
  } while (n < 0 && errno == EINTR);
  close_fd(report[0]);
  if (n == static_cast<ssize_t>(sizeof child_errno)) {
    child->stop(0);
    return make_error(errc::config_error,
                      "cannot start '" + argv[0] + "': " + errno_text(child_errno));
  }
  for (int fd : {child->in_, child->out_, child->err_})
    ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) | O_NONBLOCK);
  return child;
}

child_process::~child_process() {
  if (!reaped_) stop(0);
  close_fd(in_);
  close_fd(out_);
  close_fd(err_);
}

void child_process::close_stdin() {
  close_fd(in_);
}

void child_process::kill() {
  // Safe until it is reaped: a zombie keeps its pid, so its group id is still ours.
  if (reaped_) return;
  if (::kill(-pid_, SIGKILL) != 0) ::kill(pid_, SIGKILL);
}

void child_process::reaped(int status) {
  reaped_ = true;
  if (WIFEXITED(status)) {
    exit_code_ = WEXITSTATUS(status);
    exit_text_ = "exited with status " + std::to_string(exit_code_);
  } else if (WIFSIGNALED(status)) {
    term_signal_ = WTERMSIG(status);
    exit_text_ = "was killed by signal " + std::to_string(term_signal_) + " (" +
                 ::strsignal(term_signal_) + ")";
  } else {
    exit_text_ = "ended";
  }
}

bool child_process::exited() {
  if (reaped_) return true;
  // Looked at without reaping: while it is an unreaped zombie its pid, and so its
  // group id, cannot be reused, so what it started in its group can still be killed.
  siginfo_t info{};
  int r;
  do {
    r = ::waitid(P_PID, static_cast<id_t>(pid_), &info, WEXITED | WNOHANG | WNOWAIT);
  } while (r < 0 && errno == EINTR);
  if (r < 0) {
    reaped_ = true;  // not our child any more (SIGCHLD ignored): nothing to wait for
    exit_text_ = "ended (status unknown)";
    return true;
  }
  if (info.si_pid != pid_) return false;
  ::kill(-pid_, SIGKILL);
  int status = 0;
  pid_t w;
  do {
    w = ::waitpid(pid_, &status, 0);
  } while (w < 0 && errno == EINTR);
  if (w == pid_) {
    reaped(status);
  } else {
    reaped_ = true;
    exit_text_ = "ended (status unknown)";
  }
  return true;
}

void child_process::stop(int ms) {
  for (int waited = 0; waited < ms && !exited(); waited += 10) ::usleep(10000);
  if (exited()) return;
  kill();
  int status = 0;
  pid_t r;
  do {
    r = ::waitpid(pid_, &status, 0);
  } while (r < 0 && errno == EINTR);
  if (r == pid_)
    reaped(status);
  else
    reaped_ = true;
}

}  // namespace postbox

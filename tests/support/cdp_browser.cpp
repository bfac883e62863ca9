// cdp_browser: Chromium's --remote-debugging-pipe (fd 3 in, fd 4 out), one flat
// session attached to the first page target; Runtime.evaluate does the rest.
#include "support/cdp_browser.hpp"

#include <fcntl.h>
#include <poll.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <boost/json.hpp>
#include <csignal>
#include <thread>
#include <vector>

extern char** environ;

namespace postbox::test {

namespace json = boost::json;
using steady = std::chrono::steady_clock;
using namespace std::chrono_literals;

cdp_browser::cdp_browser(const std::string& chromium, const std::string& profile_dir) {
  std::signal(SIGPIPE, SIG_IGN);  // a browser that died must fail a write, not kill the test
  int to[2], from[2];
  if (::pipe2(to, O_CLOEXEC) != 0) return;
  if (::pipe2(from, O_CLOEXEC) != 0) {
    ::close(to[0]);
    ::close(to[1]);
    return;
  }
  // Above 4, so that the dup2 onto 3 and 4 below never meets one of them.
  int child_in = ::fcntl(to[0], F_DUPFD_CLOEXEC, 10);
  int child_out = ::fcntl(from[1], F_DUPFD_CLOEXEC, 10);
  ::close(to[0]);
  ::close(from[1]);
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_adddup2(&fa, child_in, 3);
  posix_spawn_file_actions_adddup2(&fa, child_out, 4);
  posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
  const std::string log = profile_dir + ".log";
  posix_spawn_file_actions_addopen(&fa, 2, log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  std::vector<std::string> args = {chromium,
                                   "--headless",
                                   "--no-sandbox",
                                   "--disable-gpu",
                                   "--no-first-run",
                                   "--user-data-dir=" + profile_dir,
                                   "--remote-debugging-pipe",
                                   "about:blank"};
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  int rc = ::posix_spawn(&pid_, chromium.c_str(), &fa, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&fa);
  ::close(child_in);
  ::close(child_out);
  to_ = to[1];
  from_ = from[0];
  if (rc != 0) {
    pid_ = -1;
    error_ = "cannot start " + chromium;
    return;
  }
  // The first page target, attached with a flat session (its sessionId on messages).
  const auto deadline = steady::now() + 20s;
  std::string target;
  while (target.empty() && steady::now() < deadline) {
    auto r = call("Target.getTargets", "{}");
    if (r.empty()) return;
    const json::value targets = json::parse(r);  // kept: the loop walks into it
    for (const auto& t : targets.at("targetInfos").as_array())
      if (t.at("type").as_string() == "page")
        target = json::value_to<std::string>(t.at("targetId"));
    if (target.empty()) std::this_thread::sleep_for(50ms);
  }
  if (target.empty()) {
    error_ = "the browser has no page";
    return;
  }
  auto attached = call("Target.attachToTarget",
                       json::serialize(json::object{{"targetId", target}, {"flatten", true}}));
  if (attached.empty()) return;
  session_ = json::value_to<std::string>(json::parse(attached).at("sessionId"));
}

cdp_browser::~cdp_browser() {
  if (to_ >= 0) ::close(to_);
  if (from_ >= 0) ::close(from_);
  if (pid_ <= 0) return;
  ::kill(pid_, SIGTERM);
  int status = 0;
  for (int i = 0; i < 100; ++i) {
    if (::waitpid(pid_, &status, WNOHANG) == pid_) return;
    std::this_thread::sleep_for(50ms);
  }
  ::kill(pid_, SIGKILL);
  ::waitpid(pid_, &status, 0);
}

std::string cdp_browser::call(const std::string& method, const std::string& params_json,
                              std::chrono::milliseconds limit) {
  const int id = next_id_++;
  json::object msg{{"id", id}, {"method", method}, {"params", json::parse(params_json)}};
  if (!session_.empty()) msg["sessionId"] = session_;
  std::string out = json::serialize(msg);
  out.push_back('\0');
  for (std::size_t done = 0; done < out.size();) {
    auto n = ::write(to_, out.data() + done, out.size() - done);
    if (n <= 0) {
      error_ = "the browser closed its pipe";
      return "";
    }
    done += static_cast<std::size_t>(n);
  }
  const auto deadline = steady::now() + limit;
  for (;;) {
    for (auto end = pending_.find('\0'); end != std::string::npos; end = pending_.find('\0')) {
      const std::string text = pending_.substr(0, end);
      pending_.erase(0, end + 1);
      json::value v = json::parse(text);
      const auto& o = v.as_object();
      auto it = o.find("id");
      if (it == o.end() || it->value().to_number<int>() != id) continue;  // an event
      if (auto err = o.find("error"); err != o.end()) {
        error_ = method + ": " + json::serialize(err->value());
        return "";
      }
      return json::serialize(o.at("result"));
    }
    const auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - steady::now());
    if (left.count() <= 0) {
      error_ = method + ": no answer in time";
      return "";
    }
    pollfd p{from_, POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(left.count())) <= 0) continue;
    char buf[65536];
    auto n = ::read(from_, buf, sizeof buf);
    if (n <= 0) {
      error_ = "the browser closed its pipe";
      return "";
    }
    pending_.append(buf, static_cast<std::size_t>(n));
  }
}

std::string cdp_browser::eval(const std::string& expression) {
  auto r = call("Runtime.evaluate",
                json::serialize(json::object{{"expression", expression}, {"returnByValue", true}}));
  if (r.empty()) return "";
  auto v = json::parse(r);
  if (v.as_object().contains("exceptionDetails")) {
    error_ = "exception: " + json::serialize(v.at("exceptionDetails"));
    return "";
  }
  const auto& result = v.at("result").as_object();
  auto value = result.find("value");
  if (value == result.end()) return "";
  if (value->value().is_string()) return json::value_to<std::string>(value->value());
  return json::serialize(value->value());
}

bool cdp_browser::open(const std::string& url, std::chrono::milliseconds limit) {
  if (call("Page.navigate", json::serialize(json::object{{"url", url}})).empty()) return false;
  const auto deadline = steady::now() + limit;
  while (steady::now() < deadline) {
    if (eval("document.readyState + ' ' + location.href") == "complete " + url) return true;
    std::this_thread::sleep_for(50ms);
  }
  error_ = "no loaded page at " + url;
  return false;
}

bool cdp_browser::click(const std::string& id, const std::string& until,
                        std::chrono::milliseconds limit) {
  const std::string js = json::serialize(json::value(id));
  if (eval("(() => { const b = document.getElementById(" + js +
           "); if (!b) return 'none'; b.click(); return 'clicked'; })()") != "clicked") {
    error_ = "no element " + id;
    return false;
  }
  const auto deadline = steady::now() + limit;
  while (steady::now() < deadline) {
    const std::string state = eval("document.readyState + ' ' + location.href");
    if (state.rfind("complete ", 0) == 0 && state.find(until) != std::string::npos) return true;
    std::this_thread::sleep_for(50ms);
  }
  error_ = "no page with " + until + " after clicking " + id;
  return false;
}

}  // namespace postbox::test

// Test support: headless Chromium driven over the DevTools protocol on a pipe, so a
// test clicks a page's own buttons in the page the browser loaded (its origin, its
// cookies), as a person would.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <string>

namespace postbox::test {

class cdp_browser {
 public:
  /// Starts `chromium` headless with a fresh profile under `profile_dir`, on about:blank.
  cdp_browser(const std::string& chromium, const std::string& profile_dir);
  ~cdp_browser();  // closes the browser (SIGTERM, then SIGKILL)
  cdp_browser(const cdp_browser&) = delete;
  cdp_browser& operator=(const cdp_browser&) = delete;

  /// False (see error()) when the browser did not start or has no page.
  bool ready() const { return !session_.empty(); }
  const std::string& error() const { return error_; }

  /// Navigates and waits until the document at `url` has loaded.
  bool open(const std::string& url, std::chrono::milliseconds limit = std::chrono::seconds(20));

  /// Evaluates a JavaScript expression in the page; its value as text (a string as is,
  /// anything else as JSON), or "" with error() set when it threw or the page was
  /// navigating.
  std::string eval(const std::string& expression);

  /// Clicks the element with id `id` and waits until the document it navigates to has
  /// loaded and its URL contains `until`; false when no such element or no such page.
  bool click(const std::string& id, const std::string& until,
             std::chrono::milliseconds limit = std::chrono::seconds(20));

 private:
  /// Sends one command; the JSON of its result, "" on error (error() says why).
  std::string call(const std::string& method, const std::string& params_json,
                   std::chrono::milliseconds limit = std::chrono::seconds(10));

  pid_t pid_ = -1;
  int to_ = -1;    // commands, NUL-terminated JSON
  int from_ = -1;  // answers and events, likewise
  int next_id_ = 1;
  std::string pending_;
  std::string session_;
  std::string error_;
};

}  // namespace postbox::test

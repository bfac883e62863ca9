// The node's dashboard in a real browser (Debian's headless Chromium): the rendered
// page shows executions, queues, dead letters with their reasons and nodes; its cancel
// and bulk-retry buttons, clicked in the browser, change the database, while the same
// forms posted from another page are refused. With curl: a foreign Origin or Host, a
// missing CSRF token or control token is a 403; actions are off beyond loopback
// without a token.
#define CAF_SUITE dashboard
#include <unistd.h>

#include <caf/test/unit_test.hpp>
#include <csignal>
#include <fstream>
#include <sstream>

#include "actors/transports/http_client.hpp"
#include "client/client.hpp"
#include "support/cdp_browser.hpp"
#include "support/node_process.hpp"
#include "support/pg_fixture.hpp"
#include "support/shell.hpp"
#include "support/values.hpp"

using namespace postbox;
using postbox::test::read_text;
using namespace std::chrono_literals;

namespace {

std::string chromium_path() {
  for (const char* p : {"/usr/bin/chromium", "/usr/bin/chromium-browser"})
    if (::access(p, X_OK) == 0) return p;
  return "";
}

struct fixture {
  std::string dsn = test::create_migrated_database("dashboard");
  std::string dir = test::make_temp_dir("dashboard");
  uint16_t port = test::free_port();
  std::string base = "http://127.0.0.1:" + std::to_string(port);
  std::string chromium = chromium_path();

  /// The DOM after the page (and any navigation it starts) settled. Each call has a
  /// profile of its own (a browser still shutting down holds its profile's lock), and
  /// an empty dump (the browser did not start) is tried again.
  std::string browse(const std::string& url, int attempts = 3) {
    for (int attempt = 0; attempt < attempts; ++attempt) {
      const std::string run = dir + "/browse" + std::to_string(++browses_);
      const std::string cmd = "timeout 60 " + chromium +
                              " --headless --no-sandbox --disable-gpu --no-first-run "
                              "--user-data-dir=" +
                              run + "-profile --virtual-time-budget=5000 --dump-dom '" + url +
                              "' >" + run + ".html 2>" + run + ".err";
      int rc = std::system(cmd.c_str());
      std::string dom = read_text(run + ".html");
      if (rc == 0 && dom.find("</html>") != std::string::npos) return dom;
      CAF_MESSAGE("chromium exited " << rc << " on " << url << ": " << read_text(run + ".err"));
    }
    return "";
  }
  int browses_ = 0;

  /// Submits, in the browser, the form of the rendered page whose button has `button_id`:
  /// the form's HTML is taken from the page as the browser rendered it.
  std::string submit(const std::string& dom, const std::string& button_id,
                     const std::string& token = "") {
    auto at = dom.find("id=\"" + button_id + "\"");
    if (at == std::string::npos) return "no button " + button_id;
    auto start = dom.rfind("<form", at);
    auto end = dom.find("</form>", at);
    std::string form = dom.substr(start, end + 7 - start);
    // Absolute action: the page that submits it is a file.
    auto action = form.find("action=\"/");
    form.replace(action, 9, "action=\"" + base + "/");
    if (!token.empty()) {
      auto pw = form.find("name=\"token\"");
      if (pw != std::string::npos) form.insert(pw, "value=\"" + token + "\" ");
    }
    const std::string page = test::write_file(
        dir + "/click-" + button_id + ".html",
        "<html><body>" + form +
            "<script>document.forms[0].querySelector('button').click();</script></body></html>");
    // Once only: a second try would submit the form again. Headless Chromium at times
    // dumps nothing after the form's navigation; the database tells what it did.
    return browse("file://" + page, 1);
  }

  long long n(const std::string& sql) { return test::count(dsn, sql); }

  /// The CSRF token of a rendered page (the hidden field of its forms).
  static std::string csrf_of(const std::string& html) {
    const std::string field = "name=\"csrf\" value=\"";
    auto at = html.find(field);
    if (at == std::string::npos) return "";
    at += field.size();
    return html.substr(at, html.find('"', at) - at);
  }

  /// A form POST as a browser on the dashboard's own page sends it: Origin, the CSRF
  /// cookie and field; `extra` headers replace those of the same name.
  http_result post_form(const std::string& path, const std::string& body, const std::string& csrf,
                        std::vector<std::pair<std::string, std::string>> extra = {}) {
    std::vector<std::pair<std::string, std::string>> headers = {
        {"Content-Type", "application/x-www-form-urlencoded"},
        {"Origin", base},
        {"Cookie", "postbox_csrf_" + std::to_string(port) + "=" + csrf}};
    for (auto& [k, v] : extra) {
      bool replaced = false;
      for (auto& h : headers)
        if (h.first == k) {
          h.second = v;
          replaced = true;
        }
      if (!replaced) headers.emplace_back(k, v);
    }
    const std::string sep = body.empty() ? "" : "&";
    return post_json(base + path, body + sep + "csrf=" + csrf, headers, 5s);
  }

  /// curl's HTTP status for `args` (appended to the command line as they are).
  std::string curl(const std::string& args) {
    return test::run_shell("curl -s -o /dev/null -w '%{http_code}' --max-time 5 " + args).output;
  }

  std::string topology(const std::string& host_line, const std::string& control) {
    return test::write_file(dir + "/topology.yaml",
                            "cluster: dash\n"
                            "database: { dsn: \"${POSTBOX_DSN}\" }\n" +
                                control +
                                "nodes:\n"
                                "  a:\n" +
                                host_line + "    http_port: " + std::to_string(port) +
                                "\n"
                                "    actors:\n"
                                "      - { queue: side }\n");
  }

  void dead_letters(const std::string& queue, int count) {
    for (int i = 0; i < count; ++i)
      test::exec(dsn,
                 "INSERT INTO postbox.dead_letters (message_id, queue, type, payload, headers, "
                 "enqueued_at, read_ct, attempts, reason) VALUES (" +
                     std::to_string(7000 + i) + ", '" + queue +
                     "', 'job', '{}', '{}', now(), 1, 1, 'x')");
  }
};

}  // namespace

CAF_TEST_FIXTURE_SCOPE(dashboard_tests, fixture)

CAF_TEST(the dashboard renders the cluster and its forms cancel and retry) {
  if (chromium.empty()) {
    const char* ci = std::getenv("CI");
    if (ci && std::string(ci) == "true")
      CAF_FAIL("chromium is not installed (make deps installs it)");
    CAF_MESSAGE("SKIPPED: chromium is not installed (make deps installs it)");
    return;
  }
  CAF_REQUIRE_NOT_EQUAL(port, 0);
  const std::string topo = test::write_file(dir + "/topology.yaml", R"(cluster: dash
database: { dsn: "${POSTBOX_DSN}" }
queues:
  orchestrator: { visibility_timeout: 2s, poll_interval: 200ms }
  file_batch:   { visibility_timeout: 2s, max_attempts: 1, poll_interval: 200ms }
  callback:     { visibility_timeout: 2s, poll_interval: 200ms }
workflows:
  quick: { processor: checksum, batch_size: 5 }
  slow:  { processor: chaos, batch_size: 1, options: { sleep_ms: 1000 } }
reaper: { interval: 1s }
nodes:
  a:
    http_port: )" + std::to_string(port) + R"(
    actors:
      - { role: orchestrator }
      - { role: file_batch, concurrency: 1 }
      - { role: callback }
      - { role: reaper }
)");
  test::node_process a(topo, "a", dsn);
  CAF_REQUIRE(a.start());
  CAF_REQUIRE(
      test::wait_until([&] { return http_get(base + "/healthz", 1s).status == 200; }, 20s, 100ms));
  client c{dsn};
  auto submit_files = [&](const std::string& workflow, int files) {
    const std::string in = dir + "/" + workflow;
    for (int i = 0; i < files; ++i) test::write_file(in + "/f" + std::to_string(i), "x");
    submit_request req;
    req.workflow = workflow;
    req.paths = {in};
    return test::value_of(c.submit(req)).execution_id;
  };
  const std::string quick = submit_files("quick", 3);
  CAF_REQUIRE(test::value_of(c.wait(quick, {}, 100ms, 30s)).status == execution_status::completed);
  const std::string slow = submit_files("slow", 60);
  // Three undecodable messages on a queue of their own: dead letters with their reason.
  for (int i = 0; i < 3; ++i)
    test::exec(dsn,
               "INSERT INTO postbox.dead_letters (message_id, queue, type, payload, headers, "
               "enqueued_at, read_ct, attempts, reason) VALUES (" +
                   std::to_string(1000 + i) +
                   ", 'side', 'job', '{}', '{}', now(), 1, 1, 'broken on purpose " +
                   std::to_string(i) + "')");
  CAF_REQUIRE(test::wait_until(
      [&] {
        return n("SELECT count(*) FROM postbox.file_results WHERE execution_id = '" + slow + "'") >
               0;
      },
      30s, 100ms));

  const std::string dom = browse(base + "/");
  CAF_CHECK(dom.find("id=\"executions\"") != std::string::npos);
  CAF_CHECK(dom.find(quick) != std::string::npos);
  CAF_CHECK(dom.find(slow) != std::string::npos);
  CAF_CHECK(dom.find("COMPLETED") != std::string::npos);
  CAF_CHECK(dom.find("EXECUTING") != std::string::npos);
  CAF_CHECK(dom.find("broken on purpose 2") != std::string::npos);
  CAF_CHECK(dom.find("(reaper leader)") != std::string::npos);
  CAF_CHECK(dom.find("id=\"cancel-" + slow + "\"") != std::string::npos);
  CAF_CHECK(dom.find("id=\"cancel-" + quick + "\"") == std::string::npos);  // terminal
  CAF_CHECK(dom.find("id=\"retry-queue-side\"") != std::string::npos);
  // Filtered: only COMPLETED executions.
  const std::string completed = browse(base + "/?status=COMPLETED");
  CAF_CHECK(completed.find(quick) != std::string::npos);
  CAF_CHECK(completed.find(slow) == std::string::npos);
  // One execution's page: its batches.
  const std::string one = browse(base + "/executions/" + quick);
  CAF_CHECK(one.find("id=\"batches\"") != std::string::npos);
  CAF_CHECK(one.find("COMPLETED") != std::string::npos);

  // The page's own form, posted from another page (a file:// page holding a copy of
  // it, CSRF field included): refused, nothing cancelled.
  const std::string forged = submit(dom, "cancel-" + slow);
  if (!forged.empty()) CAF_CHECK(forged.find("is not this dashboard") != std::string::npos);
  CAF_CHECK_EQUAL(
      test::scalar(dsn, "SELECT status FROM postbox.executions WHERE id = '" + slow + "'"),
      "EXECUTING");
  // Clicked in the dashboard itself: STOPPED, and nothing of it commits afterwards.
  test::cdp_browser browser(chromium, dir + "/cdp-profile");
  if (!browser.ready()) CAF_FAIL(browser.error());
  if (!browser.open(base + "/")) CAF_FAIL(browser.error());
  if (!browser.click("cancel-" + slow, "notice=")) CAF_FAIL(browser.error());
  CAF_CHECK(browser.eval("document.getElementById('notice').textContent") ==
            "cancelled " + slow + ": STOPPED");
  CAF_CHECK_EQUAL(
      test::scalar(dsn, "SELECT status FROM postbox.executions WHERE id = '" + slow + "'"),
      "STOPPED");
  const long long results =
      n("SELECT count(*) FROM postbox.file_results WHERE execution_id = '" + slow + "'");
  CAF_CHECK(test::wait_until(
      [&] {
        return n("SELECT count(*) FROM postbox.mailbox WHERE execution_id = '" + slow + "'") == 0;
      },
      30s, 100ms));
  CAF_CHECK_EQUAL(
      n("SELECT count(*) FROM postbox.file_results WHERE execution_id = '" + slow + "'"), results);
  CAF_CHECK(results < 60);
  const std::string after = browse(base + "/?status=STOPPED");
  CAF_CHECK(after.find(slow) != std::string::npos);
  CAF_CHECK(after.find("id=\"cancel-" + slow + "\"") == std::string::npos);

  // Bulk retry of queue side: refused from another page, then clicked in the dashboard:
  // its three dead letters become three messages again.
  submit(dom, "retry-queue-side");
  CAF_CHECK_EQUAL(n("SELECT count(*) FROM postbox.mailbox WHERE queue = 'side'"), 0);
  if (!browser.open(base + "/")) CAF_FAIL(browser.error());
  if (!browser.click("retry-queue-side", "notice=")) CAF_FAIL(browser.error());
  CAF_CHECK(browser.eval("document.getElementById('notice').textContent") ==
            "3 dead letter(s) of queue side retried");
  CAF_CHECK_EQUAL(n("SELECT count(*) FROM postbox.mailbox WHERE queue = 'side'"), 3);
  CAF_CHECK_EQUAL(n("SELECT count(*) FROM postbox.dead_letters WHERE queue = 'side' AND "
                    "retried_at IS NOT NULL"),
                  3);
  a.signal(SIGTERM);
  CAF_CHECK_EQUAL(a.wait_exit(20s), 0);
}

CAF_TEST(with a control token an action without it is refused) {
  CAF_REQUIRE_NOT_EQUAL(port, 0);
  const std::string topo = test::write_file(dir + "/topology.yaml", R"(cluster: dash
database: { dsn: "${POSTBOX_DSN}" }
control: { token_env: DASH_TOKEN }
nodes:
  a:
    http_port: )" + std::to_string(port) + R"(
    actors:
      - { queue: side }
)");
  test::node_process a(topo, "a", dsn, {"DASH_TOKEN=s3cret"});
  CAF_REQUIRE(a.start());
  CAF_REQUIRE(
      test::wait_until([&] { return http_get(base + "/healthz", 1s).status == 200; }, 20s, 100ms));
  test::exec(dsn,
             "INSERT INTO postbox.dead_letters (message_id, queue, type, payload, headers, "
             "enqueued_at, read_ct, attempts, reason) VALUES (7, 'other', 'job', '{}', "
             "'{}', now(), 1, 1, 'x')");
  const std::string csrf = csrf_of(http_get(base + "/", 2s).body);
  CAF_REQUIRE(!csrf.empty());
  auto refused = post_form("/actions/retry-queue", "queue=other", csrf);
  CAF_CHECK_EQUAL(refused.status, 403);
  CAF_CHECK(refused.body.find("control token") != std::string::npos);
  auto wrong = post_form("/actions/retry-queue", "queue=other&token=nope", csrf);
  CAF_CHECK_EQUAL(wrong.status, 403);
  // A token of another length: refused the same way (the compare hashes both first).
  CAF_CHECK_EQUAL(post_form("/actions/retry-queue", "queue=other&token=s3cre", csrf).status, 403);
  CAF_CHECK_EQUAL(n("SELECT count(*) FROM postbox.dead_letters WHERE retried_at IS NULL"), 1);
  auto ok = post_form("/actions/retry-queue", "queue=other&token=s3cret", csrf);
  CAF_CHECK_EQUAL(ok.status, 303);
  CAF_CHECK_EQUAL(n("SELECT count(*) FROM postbox.dead_letters WHERE retried_at IS NULL"), 0);
  // Reads need no token; a GET on an action is refused.
  CAF_CHECK_EQUAL(http_get(base + "/", 2s).status, 200);
  CAF_CHECK_EQUAL(http_get(base + "/actions/retry-queue", 2s).status, 405);
  a.signal(SIGTERM);
  CAF_CHECK_EQUAL(a.wait_exit(20s), 0);
}

CAF_TEST(an action from another origin or host or without the csrf token is refused) {
  CAF_REQUIRE_NOT_EQUAL(port, 0);
  test::node_process a(topology("", ""), "a", dsn);
  CAF_REQUIRE(a.start());
  CAF_REQUIRE(
      test::wait_until([&] { return http_get(base + "/healthz", 1s).status == 200; }, 20s, 100ms));
  dead_letters("other", 2);
  auto unretried = [&] {
    return n("SELECT count(*) FROM postbox.dead_letters WHERE retried_at IS NULL");
  };
  const std::string action = "'" + base + "/actions/retry-queue'";
  // The issue's reproduction: another site's form auto-submitted.
  CAF_CHECK_EQUAL(curl("-X POST -H 'Origin: http://evil.example' --data queue=other " + action),
                  "403");
  CAF_CHECK_EQUAL(unretried(), 2);
  const std::string page = http_get(base + "/", 2s).body;
  const std::string csrf = csrf_of(page);
  CAF_REQUIRE_EQUAL(csrf.size(), 64u);
  CAF_CHECK(page.find("id=\"retry-queue-other\"") != std::string::npos);
  const std::string cookie = "postbox_csrf_" + std::to_string(port) + "=" + csrf;
  // Even with the token and cookie (which another site cannot read), a foreign Origin...
  CAF_CHECK_EQUAL(curl("-X POST -H 'Origin: http://evil.example' -H 'Cookie: " + cookie +
                       "' --data 'queue=other&csrf=" + csrf + "' " + action),
                  "403");
  CAF_CHECK_EQUAL(
      post_form("/actions/retry-queue", "queue=other", csrf, {{"Origin", "http://evil.example"}})
          .status,
      403);
  // ...or Referer, or none of them, or Origin null (a sandboxed frame, a file:// page).
  CAF_CHECK_EQUAL(post_form("/actions/retry-queue", "queue=other", csrf,
                            {{"Origin", ""}, {"Referer", "http://evil.example/x"}})
                      .status,
                  403);
  CAF_CHECK_EQUAL(
      curl("-X POST -H 'Cookie: " + cookie + "' --data 'queue=other&csrf=" + csrf + "' " + action),
      "403");
  CAF_CHECK_EQUAL(
      post_form("/actions/retry-queue", "queue=other", csrf, {{"Origin", "null"}}).status, 403);
  // The right Origin without the CSRF token in both cookie and field: refused.
  CAF_CHECK_EQUAL(post_form("/actions/retry-queue", "queue=other", csrf, {{"Cookie", ""}}).status,
                  403);
  CAF_CHECK_EQUAL(
      post_form("/actions/retry-queue", "queue=other",
                std::string(1, csrf[0] == '0' ? '1' : '0') + csrf.substr(1), {{"Cookie", cookie}})
          .status,
      403);
  CAF_CHECK_EQUAL(curl("-X POST -H 'Origin: " + base + "' -H 'Cookie: " + cookie +
                       "' --data queue=other " + action),
                  "403");
  // DNS rebinding: a foreign Host is refused for reads too; probes are not affected.
  CAF_CHECK_EQUAL(curl("-H 'Host: evil.example:" + std::to_string(port) + "' '" + base + "/'"),
                  "403");
  CAF_CHECK_EQUAL(curl("-H 'Host: evil.example' '" + base + "/executions/x'"), "403");
  CAF_CHECK_EQUAL(curl("-H 'Host: 127.0.0.1:1' '" + base + "/'"), "403");  // another port
  CAF_CHECK_EQUAL(curl("-H 'Host: localhost:" + std::to_string(port) + "' '" + base + "/'"), "200");
  CAF_CHECK_EQUAL(curl("-H 'Host: evil.example' '" + base + "/healthz'"), "200");
  CAF_CHECK_EQUAL(unretried(), 2);
  // The cookie is strict and out of scripts' reach.
  auto head = test::run_shell("curl -s -D - -o /dev/null --max-time 5 '" + base + "/'").output;
  CAF_CHECK(head.find("Set-Cookie: " + cookie + "; Path=/; SameSite=Strict; HttpOnly") !=
            std::string::npos);
  // All of it right: done.
  CAF_CHECK_EQUAL(curl("-X POST -H 'Origin: " + base + "' -H 'Cookie: " + cookie +
                       "' --data 'queue=other&csrf=" + csrf + "' " + action),
                  "303");
  CAF_CHECK_EQUAL(unretried(), 0);
  a.signal(SIGTERM);
  CAF_CHECK_EQUAL(a.wait_exit(20s), 0);
}

CAF_TEST(actions are off when the endpoint listens beyond loopback without a token) {
  CAF_REQUIRE_NOT_EQUAL(port, 0);
  test::node_process a(topology("    host: 0.0.0.0\n", ""), "a", dsn);
  CAF_REQUIRE(a.start());
  CAF_REQUIRE(
      test::wait_until([&] { return http_get(base + "/healthz", 1s).status == 200; }, 20s, 100ms));
  dead_letters("other", 1);
  const std::string page = http_get(base + "/", 2s).body;
  CAF_CHECK(page.find("id=\"actions-off\"") != std::string::npos);
  CAF_CHECK(page.find("beyond loopback") != std::string::npos);
  CAF_CHECK(page.find("id=\"retry-queue-other\"") == std::string::npos);
  // Even a request with everything a page of its own would send.
  auto r = post_form("/actions/retry-queue", "queue=other", "whatever");
  CAF_CHECK_EQUAL(r.status, 403);
  CAF_CHECK(r.body.find("actions are off") != std::string::npos);
  CAF_CHECK_EQUAL(n("SELECT count(*) FROM postbox.dead_letters WHERE retried_at IS NULL"), 1);
  a.signal(SIGTERM);
  CAF_CHECK_EQUAL(a.wait_exit(20s), 0);
}

// Keyed actors held by a poisoned head: listed with their reason, and retried or
// skipped by the dashboard's forms under the same guards as every action (Host,
// Origin, the CSRF token, the control token).
CAF_TEST(blocked actors are listed and retried or skipped from the dashboard) {
  CAF_REQUIRE_NOT_EQUAL(port, 0);
  test::node_process a(topology("", "control: { token_env: DASH_TOKEN }\n"), "a", dsn,
                       {"DASH_TOKEN=s3cret"});
  CAF_REQUIRE(a.start());
  CAF_REQUIRE(
      test::wait_until([&] { return http_get(base + "/healthz", 1s).status == 200; }, 20s, 100ms));
  // Two keys of actor type tally (queue keyed, which no node consumes), two messages
  // each, both heads held as actor_block.sql holds a poisoned one; a third key is fine.
  test::exec(dsn, "INSERT INTO postbox.actor_types (actor_type, queue) VALUES ('tally', 'keyed')");
  for (const char* key : {"k1", "k1", "k<2>", "k<2>", "free"})
    test::exec(dsn, std::string("SELECT postbox.send(NULL, 'step', '{}', actor_type => 'tally', "
                                "actor_key => '") +
                        key + "')");
  for (const char* key : {"k1", "k<2>"})
    test::exec(dsn, std::string("UPDATE postbox.mailbox SET visible_at = 'infinity', "
                                "last_error = 'poisoned on purpose' WHERE id = (SELECT head_id "
                                "FROM postbox.actors WHERE actor_key = '") +
                        key +
                        "'); UPDATE postbox.actors SET blocked_at = now(), blocked_reason = "
                        "'poisoned on purpose' WHERE actor_key = '" +
                        key + "'");
  const std::string page = http_get(base + "/", 2s).body;
  CAF_CHECK(page.find("id=\"blocked-actors\"") != std::string::npos);
  CAF_CHECK(page.find("poisoned on purpose") != std::string::npos);
  CAF_CHECK(page.find("k&lt;2&gt;") != std::string::npos);  // escaped
  CAF_CHECK(page.find("id=\"actor-retry-tally/k1\"") != std::string::npos);
  CAF_CHECK(page.find("id=\"actor-skip-tally/k1\"") != std::string::npos);
  CAF_CHECK(page.find("actor-retry-tally/free") == std::string::npos);  // not blocked
  const std::string csrf = csrf_of(page);
  CAF_REQUIRE(!csrf.empty());
  auto blocked = [&] {
    return n("SELECT count(*) FROM postbox.actors WHERE blocked_at IS NOT NULL");
  };
  // Refused: no control token, a foreign Origin, no CSRF cookie, a foreign Host.
  CAF_CHECK_EQUAL(post_form("/actions/actor-skip", "actor_type=tally&actor_key=k1", csrf).status,
                  403);
  CAF_CHECK_EQUAL(post_form("/actions/actor-skip", "actor_type=tally&actor_key=k1&token=s3cret",
                            csrf, {{"Origin", "http://evil.example"}})
                      .status,
                  403);
  CAF_CHECK_EQUAL(post_form("/actions/actor-skip", "actor_type=tally&actor_key=k1&token=s3cret",
                            csrf, {{"Cookie", ""}})
                      .status,
                  403);
  CAF_CHECK_EQUAL(post_form("/actions/actor-skip", "actor_type=tally&actor_key=k1&token=s3cret",
                            csrf, {{"Host", "evil.example:" + std::to_string(port)}})
                      .status,
                  403);
  CAF_CHECK_EQUAL(http_get(base + "/actions/actor-skip", 2s).status, 405);
  CAF_CHECK_EQUAL(blocked(), 2);
  CAF_CHECK_EQUAL(n("SELECT count(*) FROM postbox.dead_letters"), 0);
  // Skip k1: its head is dead-lettered, its next message is the head, no longer blocked.
  auto skipped =
      post_form("/actions/actor-skip", "actor_type=tally&actor_key=k1&token=s3cret", csrf);
  CAF_CHECK_EQUAL(skipped.status, 303);
  CAF_CHECK(skipped.body.find("dead-lettered") != std::string::npos);
  CAF_CHECK_EQUAL(n("SELECT count(*) FROM postbox.dead_letters WHERE actor_key = 'k1' AND "
                    "dead_by LIKE 'dashboard of node a%'"),
                  1);
  CAF_CHECK_EQUAL(n("SELECT count(*) FROM postbox.actors a JOIN postbox.mailbox m ON "
                    "m.id = a.head_id WHERE a.actor_key = 'k1' AND a.blocked_at IS NULL AND "
                    "m.actor_seq = 2 AND m.visible_at <= now()"),
                  1);
  // Retry k<2> (the key url-encoded as a form sends it): its head runs again.
  auto retried =
      post_form("/actions/actor-retry", "actor_type=tally&actor_key=k%3C2%3E&token=s3cret", csrf);
  CAF_CHECK_EQUAL(retried.status, 303);
  CAF_CHECK(retried.body.find("runs again") != std::string::npos);
  CAF_CHECK_EQUAL(n("SELECT count(*) FROM postbox.actors a JOIN postbox.mailbox m ON "
                    "m.id = a.head_id WHERE a.actor_key = 'k<2>' AND a.blocked_at IS NULL AND "
                    "m.actor_seq = 1 AND m.visible_at <= now()"),
                  1);
  CAF_CHECK_EQUAL(blocked(), 0);
  // Not blocked any more: refused with the reason as the notice, nothing changed.
  auto again = post_form("/actions/actor-skip", "actor_type=tally&actor_key=k1&token=s3cret", csrf);
  CAF_CHECK_EQUAL(again.status, 303);
  CAF_CHECK(again.body.find("is not blocked") != std::string::npos);
  CAF_CHECK_EQUAL(n("SELECT count(*) FROM postbox.dead_letters"), 1);
  CAF_CHECK_EQUAL(n("SELECT count(*) FROM postbox.mailbox WHERE actor_type = 'tally'"), 4);
  a.signal(SIGTERM);
  CAF_CHECK_EQUAL(a.wait_exit(20s), 0);
}

CAF_TEST_FIXTURE_SCOPE_END()

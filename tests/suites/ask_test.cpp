// Durable ask end to end: real postbox-example-tools nodes (whose tool_call
// handler replies with the tool's result), `postbox ask` / `postbox reply` processes
// and the C++ client. Every case asserts the rows in postbox.replies: one reply per
// request, also when the node dies mid-handler or right after the reply committed.
#define CAF_SUITE ask
#include <boost/json.hpp>
#include <caf/test/unit_test.hpp>
#include <csignal>
#include <fstream>
#include <future>
#include <memory>
#include <sstream>

#include "actors/maintenance/reaper.hpp"
#include "client/client.hpp"
#include "config/topology.hpp"
#include "messages/error.hpp"
#include "persistence/pg_session.hpp"
#include "support/node_process.hpp"
#include "support/pg_fixture.hpp"

using namespace postbox;
using postbox::test::read_text;
using postbox::test::source_path;
using namespace std::chrono_literals;

namespace {

namespace json = boost::json;

/// The lines of `text` (without their newlines).
std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> out;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) out.push_back(line);
  return out;
}

struct fixture {
  std::string dsn = test::create_migrated_database("ask");
  std::string dir = test::make_temp_dir("ask");
  /// The executor queue with short leases; nodes `tools` and `tools2`.
  std::string topo = test::write_file(dir + "/tools.yaml", R"(cluster: ask
database: { dsn: "${POSTBOX_DSN}" }
queues:
  executor:       { visibility_timeout: 2s, max_attempts: 1, poll_interval: 200ms }
nodes:
  tools:
    actors:
      - { queue: executor, concurrency: 2 }
  tools2:
    actors:
      - { queue: executor, concurrency: 2 }
)");

  fixture() { test::exec(dsn, read_text(source_path("apps/examples/tools/schema.sql"))); }

  std::unique_ptr<test::node_process> node(const std::string& name) {
    auto p = std::make_unique<test::node_process>(topo, name, dsn);
    p->use_binary("postbox-example-tools");
    CAF_REQUIRE(p->start());
    return p;
  }

  test::cli_result cli(std::vector<std::string> args) {
    args.insert(args.begin(), {"--topology", topo, "--dsn", dsn});
    return test::run_cli(args);
  }

  test::cli_result ask(const std::string& payload, const std::string& timeout,
                       bool as_json = false) {
    std::vector<std::string> args = {"ask",    "--queue",   "executor",
                                     "--type", "tool_call", "--json-payload",
                                     payload,  "--timeout", timeout};
    if (as_json) args.push_back("--json");
    return cli(args);
  }

  long long n(const std::string& sql) { return test::count(dsn, sql); }
  std::string text(const std::string& sql) { return test::scalar(dsn, sql); }
  long long replies(const std::string& key) {
    return n("SELECT count(*) FROM postbox.replies WHERE reply_key = '" + key + "'");
  }
};

json::object parse_object(const std::string& text) {
  json::error_code ec;
  auto v = json::parse(text, ec);
  if (ec || !v.is_object()) {
    CAF_FAIL("not a JSON object: " << text);
  }
  return v.as_object();
}

}  // namespace

CAF_TEST_FIXTURE_SCOPE(ask_tests, fixture)

CAF_TEST(ask prints the reply and a later client fetches the same one) {
  auto tools = node("tools");
  auto r = ask(R"({"tool":"upper","input":"hi"})", "30s");
  if (r.exit_code != 0) CAF_MESSAGE("ask: " << r.err << "\nnode log:\n" << tools->log());
  CAF_REQUIRE_EQUAL(r.exit_code, 0);
  CAF_CHECK_EQUAL(r.out, "{\"text\": \"HI\"}\n");
  CAF_CHECK_EQUAL(r.err, "");
  CAF_CHECK_EQUAL(n("SELECT count(*) FROM postbox.replies"), 1);
  CAF_CHECK_EQUAL(n("SELECT count(*) FROM postbox.replies WHERE status = 'ok' AND error IS NULL "
                    "AND body->>'text' = 'HI'"),
                  1);

  // --json: the request id and message around the reply; one row under that key,
  // written for that message, which the same transaction acked.
  auto j = ask(R"({"tool":"wordcount","input":"one two three"})", "30s", true);
  CAF_REQUIRE_EQUAL(j.exit_code, 0);
  auto o = parse_object(j.out);
  CAF_CHECK_EQUAL(o.at("status").as_string(), "ok");
  CAF_CHECK_EQUAL(o.at("reply").at("words").as_int64(), 3);
  std::string id{o.at("request_id").as_string()};
  auto message_id = o.at("message_id").as_int64();
  CAF_CHECK_EQUAL(replies(id), 1);
  CAF_CHECK_EQUAL(text("SELECT message_id FROM postbox.replies WHERE reply_key = '" + id + "'"),
                  std::to_string(message_id));
  CAF_CHECK_EQUAL(
      n("SELECT count(*) FROM postbox.mailbox WHERE id = " + std::to_string(message_id)), 0);

  // A new process fetches it by request id, as often as it likes; nothing is added.
  for (int i = 0; i < 2; ++i) {
    auto again = cli({"reply", id});
    CAF_CHECK_EQUAL(again.exit_code, 0);
    CAF_CHECK_EQUAL(again.out, "{\"words\": 3}\n");
  }
  CAF_CHECK_EQUAL(n("SELECT count(*) FROM postbox.replies"), 2);

  // The C++ client makes the same call (it waits on NOTIFY, polling as a fallback).
  client c{dsn};
  ask_options opts;
  opts.request_id = "cpp-ask-1";
  opts.wait.timeout = 30s;
  auto cr = c.ask("executor", "tool_call", R"({"tool":"upper","input":"abc"})", opts);
  CAF_REQUIRE(cr);
  CAF_CHECK(cr->status == reply_status::ok);
  CAF_CHECK_EQUAL(cr->request_id, "cpp-ask-1");
  CAF_CHECK_EQUAL(parse_object(cr->body).at("text").as_string(), "ABC");
  CAF_CHECK_EQUAL(replies("cpp-ask-1"), 1);
  // Polling alone (as behind a transaction-mode pooler, where LISTEN cannot work)
  // gets the answer too.
  ask_options polled;
  polled.request_id = "cpp-ask-polled";
  polled.wait.timeout = 30s;
  polled.wait.listen = false;
  polled.wait.poll = 100ms;
  auto pr = c.ask("executor", "tool_call", R"({"tool":"upper","input":"p"})", polled);
  CAF_REQUIRE(pr);
  CAF_CHECK(pr->status == reply_status::ok);
  CAF_CHECK_EQUAL(parse_object(pr->body).at("text").as_string(), "P");
  CAF_CHECK_EQUAL(replies("cpp-ask-polled"), 1);
  auto fetched = c.fetch_reply("cpp-ask-1");
  CAF_REQUIRE(fetched);
  CAF_CHECK(fetched->status == reply_status::ok);
  CAF_CHECK_EQUAL(fetched->message_id, cr->message_id);

  // A handler that does not reply (tool_batch only fans out) ends the wait at once:
  // no reply and no message left under the key.
  auto silent = cli({"ask", "--queue", "executor", "--type", "tool_batch", "--json-payload",
                     R"({"call_id":"b1","calls":[{"tool":"upper","input":"a"}]})", "--timeout",
                     "60s", "--request-id", "batch-1"});
  CAF_CHECK_EQUAL(silent.exit_code, 1);
  CAF_CHECK_EQUAL(lines_of(silent.err).size(), 1u);
  CAF_CHECK(silent.err.find("request batch-1 (message ") != std::string::npos);
  CAF_CHECK(silent.err.find(") was handled without a reply") != std::string::npos);
  CAF_CHECK_EQUAL(replies("batch-1"), 0);
  // Its child was sent without the reply key: it answers nobody.
  CAF_CHECK(test::wait_until(
      [&] {
        return n("SELECT count(*) FROM postbox.mailbox WHERE type = 'tool_call' AND "
                 "payload->>'input' = 'a'") == 0;
      },
      15s));
  CAF_CHECK_EQUAL(replies("batch-1"), 0);
  CAF_CHECK_EQUAL(n("SELECT count(*) FROM postbox.replies"), 4);

  // An unknown request id is an error, not a wait.
  auto unknown = cli({"reply", "no-such-request"});
  CAF_CHECK_EQUAL(unknown.exit_code, 1);
  CAF_CHECK_EQUAL(lines_of(unknown.err).size(), 1u);
  CAF_CHECK(unknown.err.find("no request no-such-request") != std::string::npos);
  tools->signal(SIGTERM);
  CAF_CHECK_EQUAL(tools->wait_exit(20s), 0);
}

CAF_TEST(a node killed mid handler is redelivered and answers once) {
  auto tools = node("tools");
  // The asker waits (a process of its own) across the crash.
  auto asker = std::async(std::launch::async, [&] {
    return test::run_cli({"--topology", topo, "--dsn", dsn, "ask", "--queue", "executor", "--type",
                          "tool_call", "--json-payload", R"({"tool":"sleep","input":"3000"})",
                          "--timeout", "60s", "--json"});
  });
  // The first delivery is running (leased, its receipt set) ...
  CAF_REQUIRE(test::wait_until(
      [&] {
        return n("SELECT count(*) FROM postbox.mailbox WHERE type = 'tool_call' AND read_ct = 1 "
                 "AND receipt IS NOT NULL AND lease_owner IS NOT NULL") == 1;
      },
      15s));
  auto first_receipt = text("SELECT receipt FROM postbox.mailbox WHERE type = 'tool_call'");
  auto key = text("SELECT headers->>'reply_key' FROM postbox.mailbox WHERE type = 'tool_call'");
  CAF_REQUIRE(!key.empty());
  // ... when its node dies, before the ack: no reply from it.
  tools->signal(SIGKILL);
  CAF_CHECK_EQUAL(tools->wait_exit(5s), 128 + SIGKILL);
  CAF_CHECK_EQUAL(replies(key), 0);
  CAF_CHECK_EQUAL(n("SELECT count(*) FROM postbox.mailbox WHERE type = 'tool_call'"), 1);

  auto again = node("tools2");
  CAF_REQUIRE(asker.wait_for(45s) == std::future_status::ready);
  auto r = asker.get();
  if (r.exit_code != 0) CAF_MESSAGE("ask: " << r.err << "\nnode log:\n" << again->log());
  CAF_REQUIRE_EQUAL(r.exit_code, 0);
  auto o = parse_object(r.out);
  CAF_CHECK_EQUAL(o.at("request_id").as_string(), key);
  CAF_CHECK_EQUAL(o.at("reply").at("slept_ms").as_int64(), 3000);
  // The reply is the redelivery's (the one that was acked), stored once.
  auto receipt = o.at("reply").at("receipt").as_int64();
  CAF_CHECK_GREATER(receipt, std::stoll(first_receipt));
  CAF_CHECK_EQUAL(replies(key), 1);
  CAF_CHECK_EQUAL(n("SELECT count(*) FROM postbox.replies"), 1);
  CAF_CHECK_EQUAL(
      text("SELECT (body->>'receipt') FROM postbox.replies WHERE reply_key = '" + key + "'"),
      std::to_string(receipt));
  CAF_CHECK_EQUAL(n("SELECT count(*) FROM postbox.mailbox"), 0);
  CAF_CHECK_EQUAL(n("SELECT count(*) FROM postbox.dead_letters"), 0);
  again->signal(SIGTERM);
  CAF_CHECK_EQUAL(again->wait_exit(20s), 0);
}

CAF_TEST(a reply committed before the node is killed is read once by a later client) {
  auto tools = node("tools");
  // The asker gives up first (exit 3, one line naming the request) ...
  auto r = ask(R"({"tool":"sleep","input":"1500"})", "300ms", true);
  CAF_REQUIRE_EQUAL(r.exit_code, 3);
  auto o = parse_object(r.out);
  CAF_CHECK_EQUAL(o.at("status").as_string(), "pending");
  std::string id{o.at("request_id").as_string()};
  auto mid = std::to_string(o.at("message_id").as_int64());
  auto err = lines_of(r.err);
  CAF_REQUIRE_EQUAL(err.size(), 1u);
  CAF_CHECK_EQUAL(err[0], "postbox: no reply to request " + id + " (message " + mid +
                              ") within 300ms; fetch it later with: postbox reply " + id);
  // ... the handler replies and acks, and its node is killed at once.
  CAF_REQUIRE(test::wait_until([&] { return replies(id) == 1; }, 20s, 20ms));
  tools->signal(SIGKILL);
  CAF_CHECK_EQUAL(tools->wait_exit(5s), 128 + SIGKILL);
  // The reply and the ack committed together: nothing is left to redeliver.
  CAF_CHECK_EQUAL(n("SELECT count(*) FROM postbox.mailbox WHERE id = " + mid), 0);
  // A new client, later, reads that one reply.
  auto later = cli({"reply", id, "--json"});
  CAF_REQUIRE_EQUAL(later.exit_code, 0);
  auto l = parse_object(later.out);
  CAF_CHECK_EQUAL(l.at("status").as_string(), "ok");
  CAF_CHECK_EQUAL(std::to_string(l.at("message_id").as_int64()), mid);
  CAF_CHECK_EQUAL(l.at("reply").at("slept_ms").as_int64(), 1500);
  // A node that starts again finds nothing to answer: still one reply.
  auto again = node("tools");
  CAF_REQUIRE(test::wait_until(
      [&] {
        return n("SELECT count(*) FROM postbox.nodes WHERE name = 'tools' AND pid = " +
                 std::to_string(again->pid()) + " AND heartbeat_at > now() - interval '5s'") == 1;
      },
      15s));
  CAF_CHECK_EQUAL(replies(id), 1);
  CAF_CHECK_EQUAL(n("SELECT count(*) FROM postbox.replies"), 1);
  CAF_CHECK_EQUAL(n("SELECT count(*) FROM postbox.dead_letters"), 0);
  again->signal(SIGTERM);
  CAF_CHECK_EQUAL(again->wait_exit(20s), 0);
}

CAF_TEST(without a consumer ask times out with one line and the reply comes later) {
  auto r = ask(R"({"tool":"upper","input":"late"})", "1s", true);
  CAF_REQUIRE_EQUAL(r.exit_code, 3);
  auto o = parse_object(r.out);
  std::string id{o.at("request_id").as_string()};
  auto mid = std::to_string(o.at("message_id").as_int64());
  auto err = lines_of(r.err);
  CAF_REQUIRE_EQUAL(err.size(), 1u);
  CAF_CHECK_EQUAL(err[0], "postbox: no reply to request " + id + " (message " + mid +
                              ") within 1s; fetch it later with: postbox reply " + id);
  // The request waits in the mailbox under its key; nothing has answered.
  CAF_CHECK_EQUAL(n("SELECT count(*) FROM postbox.mailbox WHERE id = " + mid +
                    " AND headers->>'reply_key' = '" + id + "'"),
                  1);
  CAF_CHECK_EQUAL(n("SELECT count(*) FROM postbox.replies"), 0);
  // Without --wait, reply looks once: still pending, the same exit code.
  auto now = cli({"reply", id});
  CAF_CHECK_EQUAL(now.exit_code, 3);
  CAF_CHECK_EQUAL(now.err, "postbox: no reply to request " + id + " (message " + mid +
                               ") yet; fetch it later with: postbox reply " + id + "\n");
  CAF_CHECK_EQUAL(now.out, "");
  // A consumer starts; a client waiting by request id gets the reply.
  auto tools = node("tools");
  auto later = cli({"reply", id, "--wait", "30s"});
  CAF_CHECK_EQUAL(later.exit_code, 0);
  CAF_CHECK_EQUAL(later.out, "{\"text\": \"LATE\"}\n");
  CAF_CHECK_EQUAL(replies(id), 1);
  tools->signal(SIGTERM);
  CAF_CHECK_EQUAL(tools->wait_exit(20s), 0);
}

CAF_TEST(a dead lettered request ends the ask with its reason and a retry can answer again) {
  auto tools = node("tools");
  auto start = std::chrono::steady_clock::now();
  auto r = ask(R"({"tool":"nope","input":"x"})", "60s", true);
  CAF_CHECK_LESS(std::chrono::steady_clock::now() - start, 30s);  // not the deadline
  CAF_REQUIRE_EQUAL(r.exit_code, 1);
  auto o = parse_object(r.out);
  CAF_CHECK_EQUAL(o.at("status").as_string(), "error");
  std::string id{o.at("request_id").as_string()};
  auto mid = std::to_string(o.at("message_id").as_int64());
  auto reason = text("SELECT reason FROM postbox.dead_letters WHERE message_id = " + mid);
  CAF_CHECK(reason.find("no tool named 'nope' (attempt 1)") != std::string::npos);
  CAF_CHECK_EQUAL(o.at("error").as_string(), reason);
  auto err = lines_of(r.err);
  CAF_REQUIRE_EQUAL(err.size(), 1u);
  CAF_CHECK_EQUAL(err[0],
                  "postbox: request " + id + " (message " + mid + ") was dead-lettered: " + reason);
  // Stored once, as an error reply, in the dead letter's transaction.
  CAF_CHECK_EQUAL(replies(id), 1);
  CAF_CHECK_EQUAL(
      n("SELECT count(*) FROM postbox.replies WHERE reply_key = '" + id +
        "' AND status = 'error' AND body = 'null' AND message_id = " + mid +
        " AND error = (SELECT reason FROM postbox.dead_letters WHERE message_id = " + mid + ")"),
      1);
  auto fetched = cli({"reply", id});
  CAF_CHECK_EQUAL(fetched.exit_code, 1);
  CAF_CHECK_EQUAL(fetched.err, err[0] + "\n");

  // dead-letters retry drops the error reply so the retried request can answer;
  // it fails again here, and answers again (once) with its new message.
  auto dl = text("SELECT id FROM postbox.dead_letters WHERE message_id = " + mid);
  auto retry = cli({"dead-letters", "retry", dl, "--json"});
  CAF_REQUIRE_EQUAL(retry.exit_code, 0);
  auto new_mid = std::to_string(parse_object(retry.out).at("message_id").as_int64());
  CAF_REQUIRE(test::wait_until(
      [&] {
        return n("SELECT count(*) FROM postbox.replies WHERE reply_key = '" + id +
                 "' AND message_id = " + new_mid) == 1;
      },
      20s));
  CAF_CHECK_EQUAL(replies(id), 1);
  CAF_CHECK_EQUAL(n("SELECT count(*) FROM postbox.dead_letters"), 2);
  tools->signal(SIGTERM);
  CAF_CHECK_EQUAL(tools->wait_exit(20s), 0);
}

CAF_TEST(the reaper prunes replies past reply_retention and keeps fresh ones) {
  test::exec(dsn,
             "INSERT INTO postbox.replies (reply_key, message_id, body, created_at) VALUES "
             "('old', 1, '{}', now() - interval '2 hours'), ('fresh', 2, '{}', now()), "
             "('old-error', 3, 'null', now() - interval '3 hours')");
  pg_session session{session_options{dsn, "ask-test"}};
  reaper_settings s;
  s.reply_retention = 1h;
  reaper sweeper{session, s, "ask-test/reaper"};
  auto counts = sweeper.run_once();
  CAF_REQUIRE(counts);
  CAF_CHECK(counts->leader);
  CAF_CHECK_EQUAL(counts->replies_pruned, 2);
  CAF_CHECK_EQUAL(n("SELECT count(*) FROM postbox.replies"), 1);
  CAF_CHECK_EQUAL(text("SELECT reply_key FROM postbox.replies"), "fresh");
  auto again = sweeper.run_once();
  CAF_REQUIRE(again);
  CAF_CHECK_EQUAL(again->replies_pruned, 0);

  // The topology key, strictly: a duration, default 24h, typos named.
  const std::string base = "database: {dsn: x}\nnodes: {a: {actors: [{role: reaper}]}}\n";
  auto dflt = load_topology_string(base, "t.yaml");
  CAF_REQUIRE(dflt);
  CAF_CHECK(dflt->reaper.reply_retention == 24h);
  auto set = load_topology_string(base + "reaper: {reply_retention: 2h}\n", "t.yaml");
  CAF_REQUIRE(set);
  CAF_CHECK(set->reaper.reply_retention == 2h);
  auto typo = load_topology_string(base + "reaper: {reply_retension: 2h}\n", "t.yaml");
  CAF_REQUIRE(!typo);
  CAF_MESSAGE(describe(typo.error()));
  CAF_CHECK(describe(typo.error()).find("reply_retention") != std::string::npos);
  auto bad = load_topology_string(base + "reaper: {reply_retention: soon}\n", "t.yaml");
  CAF_REQUIRE(!bad);
  CAF_CHECK(describe(bad.error()).find("reaper.reply_retention") != std::string::npos);
}

CAF_TEST_FIXTURE_SCOPE_END()

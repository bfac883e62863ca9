// Reminders and timers of keyed actors (guarantee 11's second half) on real node
// processes (tests/actors_node/clock_main.cpp, actor type clock on queue timed): one
// message per due time across three nodes that restart, a cancel or a re-set racing a
// fire never running the old tick, missed ticks after every node stopped for 30 s,
// send_after, the refusal outside a turn, and the retention of idle actors.
#define CAF_SUITE reminders
#include <caf/test/unit_test.hpp>
#include <csignal>
#include <pqxx/pqxx>
#include <thread>

#include "persistence/mailbox_store.hpp"
#include "support/node_process.hpp"
#include "support/pg_fixture.hpp"

using namespace postbox;
using namespace std::chrono_literals;

namespace {

struct fixture {
  std::string dsn = test::create_migrated_database("reminders");
  std::string dir = test::make_temp_dir("reminders");

  fixture() {
    test::exec(dsn,
               "CREATE TABLE ticks (actor_key text, name text, due text, due_ms bigint, "
               "missed bigint, generation bigint, message_id bigint, owner text);"
               "CREATE TABLE pings (actor_key text, message_id bigint, at timestamptz "
               "DEFAULT clock_timestamp())");
  }

  std::string topology() {
    return test::write_file(dir + "/timed.yaml", R"(cluster: timed
database: { dsn: "${POSTBOX_DSN}" }
drain_timeout: 5s
queues:
  timed: { visibility_timeout: 3s, max_attempts: 2, claim_batch: 32, poll_interval: 200ms }
reaper: { interval: 1s, stuck_after: 2m }
retention: { idle_actors: 1h }
nodes:
  a:
    actors:
      - { queue: timed, concurrency: 4 }
      - { role: reaper }
  b:
    actors:
      - { queue: timed, concurrency: 4 }
  c:
    actors:
      - { queue: timed, concurrency: 4 }
)");
  }

  /// Node `name`; b's DSN is a URI, the others' key=value (both forms).
  std::unique_ptr<test::node_process> node(const std::string& name) {
    auto form = name == "b" ? test::as_uri(dsn) : test::as_key_value(dsn);
    auto n = std::make_unique<test::node_process>(topology(), name, form);
    n->use_binary("postbox-test-clock");
    CAF_REQUIRE(n->start());
    return n;
  }
  /// SIGTERM (a drain), then the node again.
  void restart(std::unique_ptr<test::node_process>& n, const std::string& name, int sig) {
    n->signal(sig);
    n->wait_exit(20s);
    n = node(name);
  }

  long long count(const std::string& sql) { return test::count(dsn, sql); }

  /// Messages of `type` with JSON `payload` to clock/key, one transaction per entry of
  /// `to` (each entry: key and its messages in order).
  void send(
      const std::vector<std::pair<std::string, std::vector<std::pair<std::string, std::string>>>>&
          to) {
    pg_session s{session_options{dsn, "reminders-sender"}};
    mailbox_store mailbox{s};
    std::vector<outgoing_message> batch;
    for (const auto& [key, messages] : to)
      for (const auto& [type, payload] : messages) {
        outgoing_message m;
        m.queue = "timed";
        m.type = type;
        m.payload = payload;
        m.actor_type = "clock";
        m.actor_key = key;
        batch.push_back(std::move(m));
      }
    auto ids = mailbox.send_batch(batch);
    CAF_REQUIRE(ids);
  }
  void send(const std::string& key, const std::string& type, const std::string& payload) {
    send({{key, {{type, payload}}}});
  }

  /// Keys (of `like`) whose ticks do not account for every due time between their
  /// first and last exactly once: count + missed must be the number of periods + 1.
  long long keys_with_gaps(const std::string& like, int64_t period_ms) {
    return count("SELECT count(*) FROM (SELECT actor_key FROM ticks WHERE actor_key LIKE '" + like +
                 "' GROUP BY actor_key HAVING count(*) + sum(missed) <> "
                 "(max(due_ms) - min(due_ms)) / " +
                 std::to_string(period_ms) + " + 1) t");
  }
  long long duplicate_ticks() {
    return count(
        "SELECT count(*) FROM (SELECT actor_key, name, due FROM ticks "
        "GROUP BY 1, 2, 3 HAVING count(*) > 1) t");
  }
};

}  // namespace

CAF_TEST_FIXTURE_SCOPE(reminders_tests, fixture)

CAF_TEST(500 reminders on three restarting nodes fire once per due time) {
  auto a = node("a");
  auto b = node("b");
  auto c = node("c");
  constexpr int keys = 500;
  constexpr int64_t period = 2000;
  std::vector<std::pair<std::string, std::vector<std::pair<std::string, std::string>>>> arms;
  for (int k = 0; k < keys; ++k)
    arms.push_back({"r" + std::to_string(k),
                    {{"arm", R"({"name": "beat", "period_ms": 2000, "due_in_ms": )" +
                                 std::to_string(500 + (k % 20) * 75) + "}"}}});
  send(arms);
  auto min_ticks = [&] {
    return count(
        "SELECT COALESCE(min(n), 0) FROM (SELECT k.key, count(t.actor_key) AS n "
        "FROM (SELECT 'r' || g AS key FROM generate_series(0, 499) g) k "
        "LEFT JOIN ticks t ON t.actor_key = k.key GROUP BY k.key) x");
  };
  CAF_REQUIRE(test::wait_until([&] { return min_ticks() >= 1; }, 90s));
  restart(b, "b", SIGKILL);
  CAF_REQUIRE(test::wait_until([&] { return min_ticks() >= 3; }, 90s));
  restart(a, "a", SIGTERM);
  restart(c, "c", SIGKILL);
  CAF_REQUIRE(test::wait_until([&] { return min_ticks() >= 6; }, 90s));
  // Stop them all: the cancels commit, and whatever ticks were sent before are acked.
  std::vector<std::pair<std::string, std::vector<std::pair<std::string, std::string>>>> stops;
  for (int k = 0; k < keys; ++k)
    stops.push_back({"r" + std::to_string(k), {{"disarm", R"({"name": "beat"})"}}});
  send(stops);
  CAF_REQUIRE(test::wait_until(
      [&] {
        return count("SELECT count(*) FROM postbox.reminders") == 0 &&
               count("SELECT count(*) FROM postbox.mailbox") == 0;
      },
      90s));
  const auto total = count("SELECT count(*) FROM ticks");
  CAF_MESSAGE(total << " ticks, " << count("SELECT COALESCE(sum(missed), 0) FROM ticks")
                    << " folded in as missed, by "
                    << count("SELECT count(DISTINCT split_part(owner, '/', 1)) FROM ticks")
                    << " nodes");
  CAF_CHECK(total >= keys * 6);
  CAF_CHECK_EQUAL(duplicate_ticks(), 0);
  CAF_CHECK_EQUAL(keys_with_gaps("r%", period), 0);
  // Each key's ticks ran in the order of their due times.
  CAF_CHECK_EQUAL(count("SELECT count(*) FROM (SELECT due_ms, lag(due_ms) OVER "
                        "(PARTITION BY actor_key ORDER BY message_id) AS prev FROM ticks) t "
                        "WHERE prev >= due_ms"),
                  0);
  CAF_CHECK_EQUAL(count("SELECT count(*) FROM postbox.dead_letters"), 0);
}

CAF_TEST(a cancel or a re - set racing a fire never runs the old tick) {
  auto a = node("a");
  auto b = node("b");
  // Per key: a one-shot due at once, then a turn that sleeps 1.5 s (the reminder fires
  // meanwhile: its tick waits behind) and cancels it (even keys) or sets it again for an
  // hour later (odd keys). The tick's turn comes after: it must not run.
  constexpr int keys = 40;
  std::vector<std::pair<std::string, std::vector<std::pair<std::string, std::string>>>> races;
  for (int k = 0; k < keys; ++k)
    races.push_back({"race" + std::to_string(k),
                     {{"arm", R"({"name": "race"})"},
                      {"disarm", std::string(R"({"name": "race", "sleep_ms": 1500, "rearm": )") +
                                     (k % 2 ? "true" : "false") + "}"}}});
  // A control: armed and not cancelled, its one-shot tick runs (once) and is then gone.
  races.push_back({"control", {{"arm", R"({"name": "race"})"}}});
  send(races);
  // Every key had three turns: arm, disarm and the tick (which was fired, then acked).
  CAF_REQUIRE(test::wait_until(
      [&] {
        return count(
                   "SELECT count(*) FROM postbox.actors WHERE actor_key LIKE 'race%' AND "
                   "turns = 3") == keys;
      },
      90s));
  CAF_REQUIRE(test::wait_until(
      [&] { return count("SELECT count(*) FROM ticks WHERE actor_key = 'control'") == 1; }, 30s));
  CAF_CHECK_EQUAL(count("SELECT count(*) FROM ticks WHERE actor_key LIKE 'race%'"), 0);
  CAF_CHECK_EQUAL(count("SELECT count(*) FROM postbox.mailbox"), 0);
  // Cancelled: gone. Set again: the new generation, due in an hour, never fired.
  CAF_CHECK_EQUAL(count("SELECT count(*) FROM postbox.reminders WHERE actor_key LIKE 'race%'"),
                  keys / 2);
  CAF_CHECK_EQUAL(count("SELECT count(*) FROM postbox.reminders WHERE actor_key LIKE 'race%' AND "
                        "fired = 0 AND due_at > now() + interval '50 minutes'"),
                  keys / 2);
  // The control's fired one-shot was deleted with its turn's ack.
  CAF_CHECK(test::wait_until(
      [&] {
        return count("SELECT count(*) FROM postbox.reminders WHERE actor_key = 'control'") == 0;
      },
      10s));
  CAF_CHECK_EQUAL(count("SELECT count(*) FROM postbox.actors WHERE actor_key LIKE 'race%' AND "
                        "state IS NOT NULL"),
                  0);
}

CAF_TEST(missed ticks after a 30 s full stop fire once with missed or each under all) {
  auto a = node("a");
  auto b = node("b");
  send({{"m-once", {{"arm", R"({"name": "beat", "period_ms": 2000, "due_in_ms": 200})"}}},
        {"m-all",
         {{"arm", R"({"name": "beat", "period_ms": 2000, "due_in_ms": 200, "all": true})"}}}});
  auto ticks = [&](const std::string& key) {
    return count("SELECT count(*) FROM ticks WHERE actor_key = '" + key + "'");
  };
  CAF_REQUIRE(test::wait_until([&] { return ticks("m-once") >= 2 && ticks("m-all") >= 2; }, 60s));
  a->signal(SIGTERM);
  b->signal(SIGTERM);
  CAF_REQUIRE_EQUAL(a->wait_exit(20s), 0);
  CAF_REQUIRE_EQUAL(b->wait_exit(20s), 0);
  const auto once_before = ticks("m-once");
  const auto all_before = ticks("m-all");
  // Every node down for 30 s: 15 periods go by with nobody to fire them.
  std::this_thread::sleep_for(30s);
  CAF_CHECK_EQUAL(ticks("m-once"), once_before);
  a = node("a");
  b = node("b");
  CAF_REQUIRE(test::wait_until(
      [&] {
        return count("SELECT count(*) FROM ticks WHERE actor_key = 'm-once' AND missed > 0") == 1 &&
               ticks("m-all") >= all_before + 15;
      },
      60s));
  // once: one message stood for the missed due times; all: one message each.
  CAF_CHECK(count("SELECT max(missed) FROM ticks WHERE actor_key = 'm-once'") >= 12);
  CAF_CHECK(ticks("m-once") <= once_before + 3);
  CAF_CHECK_EQUAL(count("SELECT count(*) FROM ticks WHERE actor_key = 'm-all' AND missed > 0"), 0);
  CAF_CHECK_EQUAL(duplicate_ticks(), 0);
  CAF_CHECK_EQUAL(keys_with_gaps("m-%", 2000), 0);
}

CAF_TEST(send_after sends once after its delay and reminders outside a turn are refused) {
  auto a = node("a");
  const auto sent_at = std::chrono::steady_clock::now();
  send("s1", "later", R"({"to": "s2", "delay_ms": 1500})");
  CAF_REQUIRE(test::wait_until(
      [&] { return count("SELECT count(*) FROM pings WHERE actor_key = 's2'") == 1; }, 30s));
  CAF_CHECK(std::chrono::steady_clock::now() - sent_at >= 1500ms);
  CAF_CHECK_EQUAL(count("SELECT count(*) FROM postbox.timers"), 0);
  // A one-shot at a wall-clock time: its tick carries that due time, then it is gone.
  const auto at = std::chrono::duration_cast<std::chrono::milliseconds>(
                      (std::chrono::system_clock::now() + 1s).time_since_epoch())
                      .count();
  send("at", "arm", R"({"name": "at", "at_ms": )" + std::to_string(at) + "}");
  CAF_REQUIRE(test::wait_until(
      [&] { return count("SELECT count(*) FROM ticks WHERE actor_key = 'at'") == 1; }, 30s));
  CAF_CHECK_EQUAL(count("SELECT due_ms FROM ticks WHERE actor_key = 'at'"), at);
  CAF_CHECK_EQUAL(count("SELECT count(*) FROM ticks WHERE actor_key = 'at' AND missed = 0 AND "
                        "due = to_char((timestamptz 'epoch' + due_ms * interval '1 millisecond') "
                        "AT TIME ZONE 'UTC', "
                        "'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"')"),
                  1);
  CAF_CHECK(
      test::wait_until([&] { return count("SELECT count(*) FROM postbox.reminders") == 0; }, 10s));
  // ctx.remind in a handler that is no actor's turn: the attempt fails, naming it.
  test::exec(dsn, R"(SELECT postbox.send('timed', 'stray', '{"name": "x"}'))");
  CAF_REQUIRE(test::wait_until(
      [&] { return count("SELECT count(*) FROM postbox.dead_letters WHERE type = 'stray'") == 1; },
      60s));
  auto why = test::scalar(dsn,
                          "SELECT COALESCE(last_error, '') || ' / ' || reason "
                          "FROM postbox.dead_letters WHERE type = 'stray'");
  CAF_MESSAGE(why);
  CAF_CHECK(why.find("ctx.remind(\"x\") outside an actor's turn") != std::string::npos);
  CAF_CHECK_EQUAL(count("SELECT count(*) FROM postbox.reminders"), 0);
}

CAF_TEST(retention removes an idle actor and keeps those with state backlog or reminder) {
  auto a = node("a");
  send("idle", "ping", R"({"keep": false})");
  send("kept-state", "ping", R"({"keep": true})");
  send("kept-reminder", "arm", R"({"name": "later", "due_in_ms": 3600000})");
  {  // A backlog: a message to an actor type no node serves, on a queue nobody consumes.
    pg_session s{session_options{dsn, "reminders-sender"}};
    mailbox_store mailbox{s};
    outgoing_message m;
    m.queue = "unserved";
    m.type = "ping";
    m.actor_type = "unserved-clock";
    m.actor_key = "kept-backlog";
    CAF_REQUIRE(mailbox.send(m));
  }
  CAF_REQUIRE(test::wait_until(
      [&] {
        return count("SELECT count(*) FROM pings") == 2 &&
               count(
                   "SELECT count(*) FROM postbox.actors WHERE actor_key = 'kept-reminder' "
                   "AND turns = 1") == 1;
      },
      30s));
  // A state at its default is no state.
  CAF_CHECK_EQUAL(count("SELECT count(*) FROM postbox.actors WHERE state IS NULL"), 3);
  test::exec(dsn, "UPDATE postbox.actors SET updated_at = now() - interval '2 hours'");
  CAF_REQUIRE(test::wait_until(
      [&] { return count("SELECT count(*) FROM postbox.actors WHERE actor_key = 'idle'") == 0; },
      30s));
  CAF_CHECK_EQUAL(count("SELECT count(*) FROM postbox.actor_seqs WHERE actor_key = 'idle'"), 0);
  CAF_CHECK_EQUAL(count("SELECT count(*) FROM postbox.actors"), 3);
  CAF_CHECK_EQUAL(count("SELECT count(*) FROM postbox.actor_seqs"), 3);
  // A send to a retired key starts it afresh.
  send("idle", "ping", "{}");
  CAF_REQUIRE(test::wait_until(
      [&] { return count("SELECT count(*) FROM pings WHERE actor_key = 'idle'") == 2; }, 30s));
  CAF_REQUIRE(test::wait_until(
      [&] {
        return count(
                   "SELECT count(*) FROM postbox.actors WHERE actor_key = 'idle' AND "
                   "turns = 1 AND head_id IS NULL") == 1;
      },
      10s));
  // A sender with its transaction open holds nothing (its message is numbered as it
  // commits): the key may be retired meanwhile, and the commit starts it afresh.
  const std::string retire = "SELECT postbox.actor_retire_idle(interval '0', 100)";
  {
    pqxx::connection c{dsn};
    pqxx::work w{c};
    w.exec(
        "SELECT postbox.send('timed', 'ping', '{}', actor_type => 'clock', "
        "actor_key => 'idle')");
    test::exec(dsn, retire);
    w.commit();
  }
  CAF_REQUIRE(test::wait_until(
      [&] { return count("SELECT count(*) FROM pings WHERE actor_key = 'idle'") == 3; }, 30s));
  // A send that comes while the key is being retired waits, then starts it afresh.
  CAF_REQUIRE(test::wait_until(
      [&] {
        return count(
                   "SELECT count(*) FROM postbox.actors WHERE actor_key = 'idle' AND "
                   "head_id IS NULL") == 1;
      },
      10s));
  pqxx::connection reaper{dsn};
  pqxx::work rw{reaper};
  CAF_CHECK(rw.exec1(retire)[0].as<int>() >= 1);
  std::thread sender([&] {
    pqxx::connection c{test::as_key_value(dsn) + " application_name=racing-sender"};
    pqxx::nontransaction n{c};
    n.exec(
        "SELECT postbox.send('timed', 'ping', '{}', actor_type => 'clock', "
        "actor_key => 'idle')");
  });
  CAF_CHECK(test::wait_until(
      [&] {
        return count(
                   "SELECT count(*) FROM pg_stat_activity WHERE application_name = "
                   "'racing-sender' AND wait_event_type = 'Lock'") == 1;
      },
      10s));
  rw.commit();
  sender.join();
  CAF_REQUIRE(test::wait_until(
      [&] { return count("SELECT count(*) FROM pings WHERE actor_key = 'idle'") == 4; }, 30s));
  CAF_CHECK_EQUAL(count("SELECT count(*) FROM postbox.actors WHERE actor_key = 'idle' AND "
                        "turns = 1"),
                  1);
  CAF_CHECK_EQUAL(count("SELECT count(*) FROM postbox.mailbox WHERE queue = 'timed'"), 0);
}

CAF_TEST_FIXTURE_SCOPE_END()

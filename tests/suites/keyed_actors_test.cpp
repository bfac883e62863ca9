// Keyed actors (guarantees 10 and 11) on real node processes (tests/actors_node):
// one turn at a time per key in commit order while a node is killed -9 twice, a
// frozen node's stale turn writing nothing, a poisoned head under hold and skip, a
// head that aborts its node (charged to it alone, then held or skipped), and sends
// from SQL in the caller's transaction.
#define CAF_SUITE keyed_actors
#include <caf/test/unit_test.hpp>
#include <csignal>
#include <pqxx/pqxx>
#include <thread>

#include "persistence/actor_store.hpp"
#include "persistence/mailbox_store.hpp"
#include "support/executions.hpp"
#include "support/node_process.hpp"
#include "support/pg_fixture.hpp"

using namespace postbox;
using namespace std::chrono_literals;

namespace {

struct fixture {
  std::string dsn = test::create_migrated_database("keyed");
  std::string dir = test::make_temp_dir("keyed");

  fixture() {
    test::exec(
        dsn,
        "CREATE TABLE turns (actor_type text, actor_key text, item text, message_id bigint, "
        "started_us bigint, ended_us bigint, owner text, attempt int, PRIMARY KEY (actor_type, "
        "actor_key, item));"
        "CREATE TABLE poison_keys (actor_key text, n bigint)");
  }

  std::string topology() {
    return test::write_file(dir + "/keyed.yaml", R"(cluster: keyed
database: { dsn: "${POSTBOX_DSN}" }
drain_timeout: 5s
queues:
  keyed:      { visibility_timeout: 2s, max_attempts: 2, claim_batch: 16, poll_interval: 200ms }
  keyed_skip: { visibility_timeout: 2s, max_attempts: 2, poll_interval: 200ms }
actor_types:
  skipper: { on_poison: skip }
reaper: { interval: 1s, stuck_after: 2m }
nodes:
  a:
    actors:
      - { queue: keyed, concurrency: 4 }
      - { queue: keyed_skip, concurrency: 2 }
      - { role: reaper }
  b:
    actors:
      - { queue: keyed, concurrency: 4 }
      - { queue: keyed_skip, concurrency: 2 }
)");
  }

  /// Node `name` of the suite's node binary; a's DSN key=value, b's a URI (both forms).
  std::unique_ptr<test::node_process> node(const std::string& name) {
    auto form = name == "a" ? test::as_key_value(dsn) : test::as_uri(dsn);
    auto n = std::make_unique<test::node_process>(topology(), name, form);
    n->use_binary("postbox-test-actors");
    CAF_REQUIRE(n->start());
    return n;
  }

  long long count(const std::string& sql) { return test::count(dsn, sql); }
  long long turns(const std::string& key = "") {
    return count("SELECT count(*) FROM turns" +
                 (key.empty() ? std::string() : " WHERE actor_key = '" + key + "'"));
  }
  std::string items(const std::string& key) {
    return test::scalar(dsn,
                        "SELECT string_agg(item, ',' ORDER BY started_us) FROM turns "
                        "WHERE actor_key = '" +
                            key + "'");
  }

  /// Steps to actor `type`/`key` from `sender`, numbered `ns`, in one transaction.
  void send(const std::string& type, const std::string& key, int64_t sender,
            const std::vector<int64_t>& ns, int64_t sleep_ms = 0, bool abort = false) {
    pg_session s{session_options{dsn, "keyed-sender"}};
    mailbox_store mailbox{s};
    std::vector<outgoing_message> batch;
    for (auto n : ns) {
      outgoing_message m;
      m.type = "step";
      m.payload = R"({"sender":)" + std::to_string(sender) + R"(,"n":)" + std::to_string(n) +
                  R"(,"sleep_ms":)" + std::to_string(sleep_ms) + (abort ? R"(,"abort":true)" : "") +
                  "}";
      m.actor_type = type;
      m.actor_key = key;
      batch.push_back(std::move(m));
    }
    auto ids = mailbox.send_batch(batch);
    CAF_REQUIRE(ids);
  }
};

}  // namespace

CAF_TEST_FIXTURE_SCOPE(keyed_actors_tests, fixture)

CAF_TEST(one turn at a time per key in commit order while a node is killed twice) {
  auto a = node("a");
  auto b = node("b");
  // The nodes register the actor types (and their queues) as they start.
  CAF_REQUIRE(test::wait_until(
      [&] { return count("SELECT count(*) FROM postbox.actor_types") == 2; }, 60s));
  constexpr int keys = 1000, per_key = 50, senders = 4;
  // Sender s sends n = s, s+4, ... to every key: in rounds, each round one transaction
  // of 1,000 messages (one per key), so every key gets sends of all four interleaved.
  std::vector<std::thread> threads;
  for (int s = 0; s < senders; ++s)
    threads.emplace_back([this, s] {
      pg_session session{session_options{dsn, "keyed-sender-" + std::to_string(s)}};
      mailbox_store mailbox{session};
      for (int n = s; n < per_key; n += senders) {
        std::vector<outgoing_message> batch;
        for (int k = 0; k < keys; ++k) {
          outgoing_message m;
          m.type = "step";
          m.payload = R"({"sender":)" + std::to_string(s) + R"(,"n":)" + std::to_string(n) + "}";
          m.actor_type = "tally";
          m.actor_key = "k" + std::to_string(k);
          batch.push_back(std::move(m));
        }
        auto ids = mailbox.send_batch(batch);
        if (!ids) CAF_FAIL("send failed: " << describe(ids.error()));
      }
    });
  const long long total = static_cast<long long>(keys) * per_key;
  // Kill -9 node a twice mid-run, restarting it each time.
  for (long long at : {total / 4, total / 2}) {
    CAF_REQUIRE(test::wait_until([&] { return turns() >= at; }, 240s));
    a->signal(SIGKILL);
    a->wait_exit(10s);
    a = node("a");
  }
  for (auto& t : threads) t.join();
  CAF_REQUIRE(test::wait_until([&] { return turns() >= total; }, 300s));
  // Every message handled once (turns' primary key), none left.
  CAF_CHECK_EQUAL(turns(), total);
  CAF_CHECK_EQUAL(count("SELECT count(*) FROM postbox.mailbox"), 0);
  CAF_CHECK_EQUAL(count("SELECT count(*) FROM postbox.dead_letters"), 0);
  // Per key and sender, in the order the sends committed (each sender's n ascending).
  CAF_CHECK_EQUAL(count(R"(
    SELECT count(*) FROM (
      SELECT split_part(item, ':', 2)::int AS n,
             lag(split_part(item, ':', 2)::int) OVER w AS prev
      FROM turns WINDOW w AS (PARTITION BY actor_key, split_part(item, ':', 1)
                              ORDER BY started_us)) t
    WHERE prev IS NOT NULL AND prev >= n)"),
                  0);
  // No two turns of a key overlap.
  CAF_CHECK_EQUAL(count(R"(
    SELECT count(*) FROM (
      SELECT started_us, lag(ended_us) OVER (PARTITION BY actor_key ORDER BY started_us) AS prev
      FROM turns) t
    WHERE prev IS NOT NULL AND prev > started_us)"),
                  0);
  // The state is the fold of the key's turns, in their order.
  CAF_CHECK_EQUAL(count(R"(
    SELECT count(*) FROM postbox.actors a
    JOIN (SELECT actor_key, jsonb_agg(item ORDER BY started_us) AS items, count(*) AS n
          FROM turns GROUP BY actor_key) t USING (actor_key)
    WHERE a.actor_type = 'tally' AND a.state->'order' = t.items
      AND (a.state->>'count')::int = 50 AND a.head_id IS NULL AND a.turns = 50)"),
                  keys);
}

CAF_TEST(a frozen node writes nothing stale and the key goes on elsewhere) {
  auto a = node("a");
  CAF_REQUIRE(test::wait_until(
      [&] { return count("SELECT count(*) FROM postbox.actor_types") == 2; }, 60s));
  send("tally", "frozen", 0, {1}, 3000);
  send("tally", "frozen", 0, {2, 3});
  // Node a runs the first turn (it sleeps 3 s): freeze it past its 2 s lease.
  CAF_REQUIRE(test::wait_until(
      [&] {
        return count(
                   "SELECT count(*) FROM postbox.mailbox WHERE actor_key = 'frozen' AND "
                   "receipt IS NOT NULL AND lease_owner LIKE 'a/%'") == 1;
      },
      30s));
  a->signal(SIGSTOP);
  auto b = node("b");
  CAF_REQUIRE(test::wait_until([&] { return turns("frozen") == 3; }, 60s));
  a->signal(SIGCONT);
  // a's turn ends: its ack (and state write) is refused as stale.
  CAF_CHECK(
      test::wait_until([&] { return a->log().find("lease_lost") != std::string::npos; }, 30s));
  std::this_thread::sleep_for(500ms);  // nothing more may commit: checked below
  CAF_CHECK_EQUAL(turns("frozen"), 3);
  CAF_CHECK_EQUAL(items("frozen"), "0:1,0:2,0:3");
  CAF_CHECK_EQUAL(test::scalar(dsn,
                               "SELECT state::text FROM postbox.actors "
                               "WHERE actor_key = 'frozen'"),
                  R"({"sum": 6, "count": 3, "order": ["0:1", "0:2", "0:3"]})");
  CAF_CHECK_EQUAL(count("SELECT turns FROM postbox.actors WHERE actor_key = 'frozen'"), 3);
}

CAF_TEST(a poisoned head holds its key alone until retried and skip moves on) {
  test::exec(dsn, "INSERT INTO poison_keys VALUES ('held', 1), ('skipped', 1)");
  auto a = node("a");
  CAF_REQUIRE(test::wait_until(
      [&] { return count("SELECT count(*) FROM postbox.actor_types") == 2; }, 60s));
  send("tally", "held", 0, {1, 2, 3});
  send("skipper", "skipped", 0, {1, 2, 3});
  for (int k = 0; k < 100; ++k) send("tally", "other" + std::to_string(k), 0, {1});
  CAF_REQUIRE(test::wait_until(
      [&] { return count("SELECT count(*) FROM turns WHERE actor_key LIKE 'other%'") == 100; },
      60s));
  // hold: the key waits, blocked, its three messages still queued, nothing handled.
  CAF_REQUIRE(test::wait_until(
      [&] {
        return count(
                   "SELECT count(*) FROM postbox.actors WHERE actor_key = 'held' AND "
                   "blocked_at IS NOT NULL") == 1;
      },
      30s));
  CAF_CHECK_EQUAL(turns("held"), 0);
  CAF_CHECK_EQUAL(count("SELECT count(*) FROM postbox.mailbox WHERE actor_key = 'held'"), 3);
  CAF_CHECK_EQUAL(count("SELECT count(*) FROM postbox.dead_letters WHERE actor_key = 'held'"), 0);
  pg_session s{session_options{dsn, "keyed-operator"}};
  actor_store actors{s};
  auto blocked = actors.list(true, "", 100);
  CAF_REQUIRE(blocked);
  CAF_REQUIRE_EQUAL(blocked->size(), 1u);
  CAF_CHECK_EQUAL(blocked->front().actor_key, "held");
  CAF_CHECK_EQUAL(blocked->front().backlog, 3);
  // skip: the poisoned message is dead-lettered and the key goes on at once.
  CAF_REQUIRE(test::wait_until([&] { return turns("skipped") == 2; }, 30s));
  CAF_CHECK_EQUAL(items("skipped"), "0:2,0:3");
  CAF_CHECK_EQUAL(count("SELECT count(*) FROM postbox.dead_letters WHERE actor_key = 'skipped'"),
                  1);
  // A message of an execution is not held (its execution must end, guarantee 4): it is
  // dead-lettered under hold too, and its key goes on.
  test::exec(dsn, "INSERT INTO poison_keys VALUES ('of-exec', 1)");
  {
    pg_session s2{session_options{dsn, "keyed-exec-sender"}};
    mailbox_store mailbox{s2};
    std::vector<outgoing_message> batch;
    for (int n = 1; n <= 2; ++n) {
      outgoing_message m;
      m.type = "step";
      m.execution_id = "exec-of-a-key";
      m.payload = R"({"sender":0,"n":)" + std::to_string(n) + "}";
      m.actor_type = "tally";
      m.actor_key = "of-exec";
      batch.push_back(std::move(m));
    }
    CAF_REQUIRE(mailbox.send_batch(batch));
  }
  CAF_REQUIRE(test::wait_until([&] { return turns("of-exec") == 1; }, 30s));
  CAF_CHECK_EQUAL(items("of-exec"), "0:2");
  CAF_CHECK_EQUAL(count("SELECT count(*) FROM postbox.dead_letters WHERE actor_key = 'of-exec'"),
                  1);
  // The cause is fixed; the operator retries: the key goes on, in order.
  test::exec(dsn, "DELETE FROM poison_keys WHERE actor_key = 'held'");
  auto retried = actors.retry("tally", "held");
  CAF_REQUIRE(retried);
  CAF_CHECK(retried->has_value());
  CAF_REQUIRE(test::wait_until([&] { return turns("held") == 3; }, 30s));
  CAF_CHECK_EQUAL(items("held"), "0:1,0:2,0:3");
  CAF_CHECK_EQUAL(count("SELECT count(*) FROM postbox.actors WHERE blocked_at IS NOT NULL"), 0);
  // A retry of a key that is not blocked does nothing.
  auto again = actors.retry("tally", "held");
  CAF_REQUIRE(again);
  CAF_CHECK(!again->has_value());
}

// Guarantee 8 at the head of a key: a head that aborts its node on every attempt,
// with other keys' turns in flight beside it on that node (restarted as it dies). The
// first crash is charged to nobody (all in flight become suspects); each suspect then
// runs alone, so the culprit's crashes are charged to it alone. After max_attempts (2)
// it is held (tally: its key blocked, its backlog kept) or dead-lettered (skipper: the
// key goes on); every other turn completes on its first attempt.
CAF_TEST(a head that aborts its node is charged to it alone) {
  // Sent before the node starts, so its first claim takes them all at once: the
  // aborting heads (after 300 ms) beside turns of 2 s on other keys. The types'
  // queues as the nodes will register them.
  test::exec(dsn,
             "INSERT INTO postbox.actor_types (actor_type, queue, on_poison) VALUES "
             "('tally', 'keyed', 'hold'), ('skipper', 'keyed_skip', 'skip')");
  send("tally", "boom", 0, {1}, 300, true);
  send("tally", "boom", 0, {2, 3});
  send("skipper", "boom", 0, {1}, 300, true);
  send("skipper", "boom", 0, {2, 3});
  for (int k = 0; k < 3; ++k) {
    send("tally", "beside" + std::to_string(k), 0, {1}, 2000);
    send("tally", "beside" + std::to_string(k), 0, {2});
  }
  send("skipper", "beside", 0, {1}, 2000);
  send("skipper", "beside", 0, {2});
  auto a = node("a");
  int restarts = 0;
  // Restart node a whenever it dies, until both culprits are settled and the rest done.
  auto settled = [&] {
    if (!a->running()) {
      CAF_MESSAGE("node a exited " << a->wait_exit(5s) << "; restarting");
      ++restarts;
      a = node("a");
    }
    return count(
               "SELECT count(*) FROM postbox.actors WHERE actor_type = 'tally' AND "
               "actor_key = 'boom' AND blocked_at IS NOT NULL") == 1 &&
           count("SELECT count(*) FROM postbox.dead_letters WHERE actor_key = 'boom'") == 1 &&
           turns() == 10;
  };
  CAF_REQUIRE(test::wait_until(settled, 180s, 200ms));
  CAF_MESSAGE(restarts << " restarts");
  CAF_CHECK(restarts >= 2);  // at least the charged crashes (2 of either culprit)
  // Everyone else: every turn ran, on its first attempt (nothing charged).
  CAF_CHECK_EQUAL(count("SELECT count(*) FROM turns WHERE actor_key LIKE 'beside%' AND "
                        "attempt = 1"),
                  8);
  CAF_CHECK_EQUAL(items("beside0"), "0:1,0:2");
  // hold: the culprit stays at the head of its blocked key, its backlog untouched,
  // charged with max_attempts crashes; the reason says it crashed its node.
  CAF_CHECK_EQUAL(count("SELECT count(*) FROM turns WHERE actor_type = 'tally' AND "
                        "actor_key = 'boom'"),
                  0);
  CAF_CHECK_EQUAL(count("SELECT count(*) FROM postbox.mailbox WHERE actor_type = 'tally' AND "
                        "actor_key = 'boom'"),
                  3);
  CAF_CHECK_EQUAL(count("SELECT count(*) FROM postbox.mailbox m JOIN postbox.actors a ON "
                        "a.head_id = m.id WHERE a.actor_type = 'tally' AND a.actor_key = 'boom' "
                        "AND m.attempts = 2 AND a.blocked_reason LIKE '%crashed its node%'"),
                  1);
  // skip: the culprit was dead-lettered (charged, with the crash as its reason) and
  // the key went on in order.
  CAF_CHECK_EQUAL(count("SELECT count(*) FROM postbox.dead_letters WHERE actor_type = 'skipper' "
                        "AND actor_key = 'boom' AND attempts = 2 AND reason LIKE "
                        "'%crashed its node%'"),
                  1);
  CAF_CHECK_EQUAL(test::scalar(dsn,
                               "SELECT string_agg(item, ',' ORDER BY started_us) FROM turns "
                               "WHERE actor_type = 'skipper' AND actor_key = 'boom'"),
                  "0:2,0:3");
  CAF_CHECK_EQUAL(count("SELECT count(*) FROM postbox.dead_letters"), 1);
  // The operator skips the held culprit (postbox actor skip): dead-lettered through
  // the poison path, and the key's next turns run in order.
  auto r = test::run_cli({"--dsn", dsn, "actor", "skip", "tally", "boom"});
  CAF_CHECK_EQUAL(r.exit_code, 0);
  CAF_CHECK(r.out.find("dead-lettered") != std::string::npos);
  CAF_REQUIRE(test::wait_until(
      [&] {
        return count(
                   "SELECT count(*) FROM turns WHERE actor_type = 'tally' AND "
                   "actor_key = 'boom'") == 2;
      },
      30s));
  CAF_CHECK_EQUAL(test::scalar(dsn,
                               "SELECT string_agg(item, ',' ORDER BY started_us) FROM turns "
                               "WHERE actor_type = 'tally' AND actor_key = 'boom'"),
                  "0:2,0:3");
  CAF_CHECK_EQUAL(count("SELECT count(*) FROM postbox.dead_letters WHERE actor_type = 'tally' "
                        "AND actor_key = 'boom' AND dead_by LIKE '%postbox actor skip%'"),
                  1);
  CAF_CHECK_EQUAL(count("SELECT count(*) FROM postbox.actors WHERE blocked_at IS NOT NULL"), 0);
}

CAF_TEST(a turn of a cancelled execution commits nothing and its key goes on) {
  // An execution (never run: no pipeline node here), cancelled; then two turns of one
  // key, the first of that execution. Its ack finds the execution STOPPED: the ack
  // commits alone (no row, no state), and the key's next message runs (guarantee 9 x 10).
  test::submit_files(dsn, "exec-keyed", "docs", {"/dev/null"}, 1);
  CAF_REQUIRE_EQUAL(test::scalar(dsn, "SELECT status FROM postbox.cancel('exec-keyed')"),
                    "STOPPED");
  auto a = node("a");
  CAF_REQUIRE(test::wait_until(
      [&] { return count("SELECT count(*) FROM postbox.actor_types") == 2; }, 60s));
  {
    pg_session s{session_options{dsn, "keyed-cancel-sender"}};
    mailbox_store mailbox{s};
    std::vector<outgoing_message> batch;
    for (int n = 1; n <= 2; ++n) {
      outgoing_message m;
      m.type = "step";
      if (n == 1) m.execution_id = "exec-keyed";
      m.payload = R"({"sender":0,"n":)" + std::to_string(n) + "}";
      m.actor_type = "tally";
      m.actor_key = "cancelled";
      batch.push_back(std::move(m));
    }
    CAF_REQUIRE(mailbox.send_batch(batch));
  }
  CAF_REQUIRE(test::wait_until([&] { return turns("cancelled") == 1; }, 60s));
  CAF_REQUIRE(test::wait_until(
      [&] {
        return count("SELECT count(*) FROM postbox.mailbox WHERE actor_key = 'cancelled'") == 0;
      },
      30s));
  CAF_CHECK_EQUAL(items("cancelled"), "0:2");
  CAF_CHECK_EQUAL(test::scalar(dsn,
                               "SELECT state->>'count' FROM postbox.actors "
                               "WHERE actor_key = 'cancelled'"),
                  "1");
  CAF_CHECK_EQUAL(count("SELECT turns FROM postbox.actors WHERE actor_key = 'cancelled'"), 2);
  CAF_CHECK_EQUAL(count("SELECT count(*) FROM postbox.dead_letters"), 0);
  CAF_CHECK_EQUAL(test::execution_status(dsn, "exec-keyed"), "STOPPED");
}

CAF_TEST(sql sends to an actor commit with the caller and are handled in commit order) {
  // Rolled back: nothing was sent, and the key's numbering is untouched.
  {
    pqxx::connection c{dsn};
    pqxx::work w{c};
    w.exec(
        "SELECT postbox.send('keyed', 'step', '{\"n\": 9}', actor_type => 'tally', "
        "actor_key => 'sql')");
    w.abort();
  }
  CAF_CHECK_EQUAL(count("SELECT count(*) FROM postbox.mailbox"), 0);
  CAF_CHECK_EQUAL(count("SELECT count(*) FROM postbox.actor_seqs"), 0);
  // Two sessions: the one whose message has the lower id commits second. A message id
  // is drawn before the key's numbering is taken, so session 1 reserves its id first
  // and sends (with it) only after session 2 committed.
  pqxx::connection c1{dsn}, c2{dsn};
  pqxx::work w1{c1};
  auto low = w1.exec1("SELECT nextval('postbox.mailbox_id_seq')")[0].as<int64_t>();
  {
    pqxx::work w2{c2};
    w2.exec(
        "SELECT postbox.send('keyed', 'step', '{\"sender\": 2, \"n\": 1}', "
        "actor_type => 'tally', actor_key => 'sql')");
    w2.commit();
  }
  w1.exec(
      "INSERT INTO postbox.mailbox (id, queue, type, payload, actor_type, actor_key) "
      "VALUES (" +
      std::to_string(low) + ", 'keyed', 'step', '{\"sender\": 1, \"n\": 1}', 'tally', 'sql')");
  w1.commit();
  CAF_CHECK_EQUAL(count("SELECT count(*) FROM postbox.mailbox WHERE actor_key = 'sql' AND "
                        "id = " +
                        std::to_string(low) + " AND actor_seq = 2"),
                  1);
  // With no queue, the actor type's (the nodes register it as they start).
  auto a = node("a");
  CAF_REQUIRE(test::wait_until(
      [&] { return count("SELECT count(*) FROM postbox.actor_types") == 2; }, 60s));
  test::exec(dsn,
             "SELECT postbox.send(NULL, 'step', '{\"sender\": 3, \"n\": 1}', "
             "actor_type => 'tally', actor_key => 'sql')");
  CAF_REQUIRE(test::wait_until([&] { return turns("sql") == 3; }, 30s));
  CAF_CHECK_EQUAL(items("sql"), "2:1,1:1,3:1");
  CAF_CHECK_EQUAL(test::scalar(dsn, "SELECT postbox.actor_state('tally', 'sql')->>'count'"), "3");
  // An open transaction that sent to the key holds nothing others wait for: later sends
  // commit and are handled meanwhile; its own message is numbered when it commits.
  pqxx::connection open_c{dsn};
  pqxx::work open_w{open_c};
  open_w.exec(
      "SELECT postbox.send(NULL, 'step', '{\"sender\": 4, \"n\": 1}', "
      "actor_type => 'tally', actor_key => 'sql')");
  send("tally", "sql", 5, {1, 2});
  CAF_REQUIRE(test::wait_until([&] { return turns("sql") == 5; }, 30s));
  open_w.commit();
  CAF_REQUIRE(test::wait_until([&] { return turns("sql") == 6; }, 30s));
  CAF_CHECK_EQUAL(items("sql"), "2:1,1:1,3:1,5:1,5:2,4:1");
  // Bad input: a clear error, nothing sent.
  for (const auto* bad :
       {"SELECT postbox.send('keyed', 'step', '{}', actor_type => 'tally')",
        "SELECT postbox.send(NULL, 'step', '{}', actor_type => 'nobody', actor_key => 'x')",
        "SELECT postbox.send('keyed', 'step', '{}', delay => '1s', actor_type => 'tally', "
        "actor_key => 'x')",
        "SELECT postbox.send('other', 'step', '{}', actor_type => 'tally', actor_key => 'sql')",
        "SELECT postbox.send('other', 'step', '{}', actor_type => 'tally', actor_key => 'new')"}) {
    pqxx::connection c{dsn};
    pqxx::work w{c};
    try {
      w.exec(bad);
      CAF_FAIL("accepted: " << bad);
    } catch (const pqxx::sql_error& e) {
      CAF_MESSAGE("refused: " << e.what());
    }
  }
  CAF_CHECK_EQUAL(count("SELECT count(*) FROM postbox.mailbox"), 0);
}

CAF_TEST_FIXTURE_SCOPE_END()

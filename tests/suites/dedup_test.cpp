// Dedup keys on send (issue 23 item 2, guarantee 13): a key admits one live message on
// its queue, in every state until its ack or dead letter, enforced by the unique index
// of migration 023 (never a lookup): 64 racing sessions (one rolls back), each state,
// ttl and replace modes, batches with repeated keys, keyed actors (a duplicate takes no
// number), a handler's duplicate send on a real node (its ack commits), the dead-letter
// retry's conflict, the SQL API and the CLI. Every check reads the database's rows.
#define CAF_SUITE dedup
#include <atomic>
#include <caf/test/unit_test.hpp>
#include <pqxx/pqxx>
#include <thread>

#include "client/client.hpp"
#include "persistence/inspect_store.hpp"
#include "persistence/mailbox_store.hpp"
#include "persistence/maintenance_store.hpp"
#include "support/files.hpp"
#include "support/node_process.hpp"
#include "support/pg_fixture.hpp"

using namespace postbox;
using namespace std::chrono_literals;

namespace {

struct fixture {
  std::string dsn = test::create_migrated_database("dedup");
  std::string dir = test::make_temp_dir("dedup");
  pg_session session{session_options{dsn, "dedup-test"}};
  mailbox_store mailbox{session};

  fixture() {
    test::exec(dsn,
               "CREATE TABLE forwarded (message_id bigint PRIMARY KEY, n bigint);"
               "CREATE TABLE slow_done (message_id bigint PRIMARY KEY);"
               "CREATE TABLE turns (actor_type text, actor_key text, item text, message_id "
               "bigint, started_us bigint, ended_us bigint, owner text, attempt int);"
               "CREATE TABLE poison_keys (actor_key text, n bigint)");
  }

  long long count(const std::string& sql) { return test::count(dsn, sql); }
  std::string text(const std::string& sql) { return test::scalar(dsn, sql); }
  long long live(const std::string& queue, const std::string& key) {
    return count("SELECT count(*) FROM postbox.mailbox WHERE queue = '" + queue +
                 "' AND dedup_key = '" + key + "'");
  }

  static outgoing_message keyed(const std::string& queue, const std::string& key,
                                const std::string& payload = "{}") {
    outgoing_message m;
    m.queue = queue;
    m.type = "job";
    m.payload = payload;
    m.dedup_key = key;
    return m;
  }

  send_result send(const outgoing_message& m) {
    auto r = mailbox.send_unique(m);
    CAF_REQUIRE(r);
    return *r;
  }

  lease claim(const std::string& queue) {
    auto got = mailbox.read(queue, 1, 60s, "dedup-test");
    CAF_REQUIRE(got);
    CAF_REQUIRE_EQUAL(got->size(), 1u);
    return got->front().to_lease();
  }

  std::unique_ptr<test::node_process> node(const std::string& name) {
    auto topo = test::write_file(dir + "/dedup.yaml", R"(cluster: dedup
database: { dsn: "${POSTBOX_DSN}" }
drain_timeout: 5s
queues:
  keyed:      { visibility_timeout: 5s, poll_interval: 200ms }
  keyed_skip: { visibility_timeout: 5s, poll_interval: 200ms }
  dedup:      { visibility_timeout: 5s, poll_interval: 100ms }
  dedup_slow: { visibility_timeout: 5s, poll_interval: 100ms }
nodes:
  a:
    actors:
      - { queue: keyed }
      - { queue: keyed_skip }
      - { queue: dedup, concurrency: 2 }
      - { queue: dedup_slow }
  b:
    actors:
      - { queue: keyed }
      - { queue: keyed_skip }
      - { queue: dedup, concurrency: 2 }
      - { queue: dedup_slow }
)");
    auto form = name == "a" ? test::as_key_value(dsn) : test::as_uri(dsn);
    auto n = std::make_unique<test::node_process>(topo, name, form);
    n->use_binary("postbox-test-actors");
    CAF_REQUIRE(n->start());
    return n;
  }
};

}  // namespace

CAF_TEST_FIXTURE_SCOPE(dedup_tests, fixture)

CAF_TEST(64 racing sessions with one key and one rollback enqueue exactly one message) {
  // Session 0 inserts first and holds its transaction open; the 63 others (both DSN
  // forms; half by the store's send_unique, half by the SQL API's postbox.send_dedup)
  // wait on the unique index for it; then it rolls back. One of the 63 must insert, the
  // other 62 get its id with duplicate = true.
  constexpr int sessions = 64;
  pqxx::connection first{test::as_key_value(dsn)};
  pqxx::work holding{first};
  const auto rolled_back_id =
      holding.exec("SELECT id FROM postbox.send_dedup('race', 'job', '{}', dedup_key => 'k')")[0][0]
          .as<int64_t>();
  std::vector<send_result> results(sessions);
  std::vector<int> failed(sessions, 0);
  std::atomic<int> ready{0};
  std::atomic<int> done{0};
  std::vector<std::thread> threads;
  for (int i = 1; i < sessions; ++i)
    threads.emplace_back([&, i] {
      const auto form = i % 2 ? test::as_uri(dsn) : test::as_key_value(dsn);
      try {
        if (i % 4 < 2) {
          pg_session s{session_options{form, "dedup-race-" + std::to_string(i)}};
          mailbox_store mb{s};
          ready.fetch_add(1);
          auto r = mb.send_unique(keyed("race", "k", R"({"i":)" + std::to_string(i) + "}"));
          if (r)
            results[i] = *r;
          else
            failed[i] = 1;
        } else {
          pqxx::connection c{form};
          ready.fetch_add(1);
          pqxx::work w{c};
          auto row =
              w.exec("SELECT id, duplicate FROM postbox.send_dedup('race', 'job', '{\"i\": " +
                     std::to_string(i) + "}', dedup_key => 'k')")[0];
          w.commit();
          results[i] = {row[0].as<int64_t>(), row[1].as<bool>()};
        }
      } catch (const std::exception&) {
        failed[i] = 1;
      }
      done.fetch_add(1);
    });
  // Every other session waits on the first one's transaction (a condition, not a sleep),
  // or (a dedup that does not wait: a lookup) has already finished.
  CAF_CHECK(test::wait_until(
      [&] {
        return done.load() == sessions - 1 ||
               count(
                   "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND "
                   "datname = current_database() AND query LIKE '%dedup%'") == sessions - 1;
      },
      60s));
  holding.abort();
  for (auto& t : threads) t.join();
  CAF_CHECK_EQUAL(std::count(failed.begin(), failed.end(), 1), 0);
  CAF_CHECK_EQUAL(count("SELECT count(*) FROM postbox.mailbox WHERE queue = 'race'"), 1);
  const auto winner = std::stoll(text("SELECT id FROM postbox.mailbox WHERE queue = 'race'"));
  CAF_CHECK_NOT_EQUAL(winner, rolled_back_id);
  int inserted = 0;
  for (int i = 1; i < sessions; ++i) {
    CAF_CHECK_EQUAL(results[i].id, winner);
    inserted += results[i].duplicate ? 0 : 1;
  }
  CAF_CHECK_EQUAL(inserted, 1);
}

CAF_TEST(a key is refused in every live state and admitted after ack and dead letter) {
  // Delayed.
  auto m = keyed("states", "delayed");
  m.delay = 1h;
  auto d1 = send(m);
  CAF_CHECK(!d1.duplicate);
  auto d2 = send(keyed("states", "delayed"));
  CAF_CHECK(d2.duplicate);
  CAF_CHECK_EQUAL(d2.id, d1.id);
  CAF_CHECK_EQUAL(live("states", "delayed"), 1);
  // Leased (via the store), then retrying (failed with a backoff), then leased again.
  auto l1 = send(keyed("leased", "k"));
  auto l = claim("leased");
  auto l2 = send(keyed("leased", "k"));
  CAF_CHECK(l2.duplicate);
  CAF_CHECK_EQUAL(l2.id, l1.id);
  auto attempts = mailbox.fail(l, 1h, "boom");
  CAF_REQUIRE(attempts);
  CAF_CHECK_EQUAL(count("SELECT count(*) FROM postbox.mailbox WHERE queue = 'leased' AND "
                        "receipt IS NULL AND visible_at > now() + interval '30 minutes'"),
                  1);
  auto l3 = send(keyed("leased", "k"));
  CAF_CHECK(l3.duplicate);
  CAF_CHECK_EQUAL(l3.id, l1.id);
  CAF_CHECK_EQUAL(live("leased", "k"), 1);
  // Acked: the key is free again.
  test::exec(dsn, "UPDATE postbox.mailbox SET visible_at = now() WHERE queue = 'leased'");
  CAF_REQUIRE(!mailbox.ack(claim("leased")));
  auto l4 = send(keyed("leased", "k"));
  CAF_CHECK(!l4.duplicate);
  CAF_CHECK_NOT_EQUAL(l4.id, l1.id);
  CAF_CHECK_EQUAL(live("leased", "k"), 1);
  // Dead-lettered: free again; its retry while another holds the key is refused and says
  // so; after that one's ack the retry re-acquires the key.
  auto dead = mailbox.dead_letter(claim("leased"), "poison");
  CAF_REQUIRE(dead);
  CAF_CHECK_EQUAL(live("leased", "k"), 0);
  CAF_CHECK_EQUAL(
      text("SELECT dedup_key FROM postbox.dead_letters WHERE id = " + std::to_string(*dead)), "k");
  auto l5 = send(keyed("leased", "k"));
  CAF_CHECK(!l5.duplicate);
  inspect_store inspect{session};
  auto retried = inspect.dead_letter_retry(*dead);
  CAF_REQUIRE(!retried);
  CAF_CHECK(describe(retried.error()).find("held by live message " + std::to_string(l5.id)) !=
            std::string::npos);
  CAF_CHECK_EQUAL(count("SELECT count(*) FROM postbox.dead_letters WHERE id = " +
                        std::to_string(*dead) + " AND retried_at IS NULL"),
                  1);
  CAF_CHECK_EQUAL(live("leased", "k"), 1);
  CAF_REQUIRE(!mailbox.ack(claim("leased")));
  retried = inspect.dead_letter_retry(*dead);
  CAF_REQUIRE(retried);
  CAF_CHECK_EQUAL(text("SELECT id FROM postbox.mailbox WHERE queue = 'leased' AND dedup_key = 'k'"),
                  std::to_string(*retried));
}

CAF_TEST(a key is refused while a real node holds its message and admitted after its ack) {
  auto a = node("a");
  outgoing_message m;
  m.queue = "dedup_slow";
  m.type = "slow";
  m.payload = R"({"sleep_ms": 3000})";
  m.dedup_key = "s";
  auto first = send(m);
  CAF_REQUIRE(!first.duplicate);
  CAF_REQUIRE(test::wait_until(
      [&] {
        return count(
                   "SELECT count(*) FROM postbox.mailbox WHERE queue = 'dedup_slow' AND "
                   "receipt IS NOT NULL AND visible_at > now()") == 1;
      },
      30s));
  auto second = send(m);
  CAF_CHECK(second.duplicate);
  CAF_CHECK_EQUAL(second.id, first.id);
  CAF_REQUIRE(test::wait_until([&] { return count("SELECT count(*) FROM slow_done") == 1; }, 30s));
  CAF_CHECK_EQUAL(
      count("SELECT count(*) FROM slow_done WHERE message_id = " + std::to_string(first.id)), 1);
  CAF_REQUIRE(test::wait_until(
      [&] { return count("SELECT count(*) FROM postbox.mailbox WHERE queue = 'dedup_slow'") == 0; },
      10s));
  m.payload = R"({"sleep_ms": 0})";
  auto third = send(m);
  CAF_CHECK(!third.duplicate);
  CAF_REQUIRE(test::wait_until([&] { return count("SELECT count(*) FROM slow_done") == 2; }, 30s));
}

CAF_TEST(ttl mode refuses after the ack until its window ends and the reaper prunes it) {
  auto m = keyed("ttl", "t");
  m.dedup_mode = dedup_mode::ttl;
  m.dedup_ttl = 3s;
  auto first = send(m);
  CAF_REQUIRE(!first.duplicate);
  CAF_REQUIRE(!mailbox.ack(claim("ttl")));
  CAF_CHECK_EQUAL(count("SELECT count(*) FROM postbox.mailbox WHERE queue = 'ttl'"), 0);
  auto again = send(m);
  CAF_CHECK(again.duplicate);
  CAF_CHECK_EQUAL(again.id, first.id);
  CAF_CHECK_EQUAL(count("SELECT count(*) FROM postbox.mailbox WHERE queue = 'ttl'"), 0);
  // Its window ends (the database's clock): the next send is admitted, once.
  CAF_REQUIRE(test::wait_until(
      [&] {
        return count("SELECT count(*) FROM postbox.dedup_keys WHERE expires_at <= now()") == 1;
      },
      10s));
  auto later = send(m);
  CAF_CHECK(!later.duplicate);
  CAF_CHECK_EQUAL(count("SELECT count(*) FROM postbox.mailbox WHERE queue = 'ttl'"), 1);
  CAF_CHECK_EQUAL(text("SELECT message_id FROM postbox.dedup_keys WHERE dedup_key = 't'"),
                  std::to_string(later.id));
  // An ended window is pruned; a running one is not.
  test::exec(dsn,
             "INSERT INTO postbox.dedup_keys VALUES ('ttl', 'old', NULL, now() - interval '1s')");
  maintenance_store maintenance{session};
  prune_tally tally;
  CAF_REQUIRE(!maintenance.prune_dedup_keys(tally));
  CAF_CHECK_EQUAL(tally.rows, 1);
  CAF_CHECK_EQUAL(count("SELECT count(*) FROM postbox.dedup_keys"), 1);
}

CAF_TEST(replace updates a message not started and leaves a running one alone) {
  auto first = send(keyed("replace", "r", R"({"v": 1})"));
  auto m = keyed("replace", "r", R"({"v": 2})");
  m.dedup_mode = dedup_mode::replace;
  auto replaced = send(m);
  CAF_CHECK(replaced.duplicate);
  CAF_CHECK_EQUAL(replaced.id, first.id);
  CAF_CHECK_EQUAL(count("SELECT count(*) FROM postbox.mailbox WHERE queue = 'replace'"), 1);
  CAF_CHECK_EQUAL(
      text("SELECT payload->>'v' FROM postbox.mailbox WHERE id = " + std::to_string(first.id)),
      "2");
  // Leased: it keeps its payload and gives up its key; the new message takes it.
  auto l = claim("replace");
  m.payload = R"({"v": 3})";
  auto fresh = send(m);
  CAF_CHECK(!fresh.duplicate);
  CAF_CHECK_NOT_EQUAL(fresh.id, first.id);
  CAF_CHECK_EQUAL(text("SELECT payload->>'v' || coalesce(dedup_key, '-') FROM postbox.mailbox "
                       "WHERE id = " +
                       std::to_string(first.id)),
                  "2-");
  CAF_CHECK_EQUAL(text("SELECT payload->>'v' || dedup_key FROM postbox.mailbox WHERE id = " +
                       std::to_string(fresh.id)),
                  "3r");
  CAF_CHECK(!mailbox.ack(l));  // the running one still completes
  CAF_CHECK_EQUAL(count("SELECT count(*) FROM postbox.mailbox WHERE queue = 'replace'"), 1);
}

CAF_TEST(a batch with repeated keys inserts one per key and answers every element) {
  auto held = send(keyed("batch", "held"));
  std::vector<outgoing_message> batch{
      keyed("batch", "a"),    keyed("batch", "b"), keyed("batch", "a"), keyed("batch", ""),
      keyed("batch", "held"), keyed("batch", "b"), keyed("batch", "a")};
  std::vector<send_result> sent;
  auto err = session.transact(retry_policy::never, [&](tx_context& tx) -> caf::error {
    auto r = mailbox_store::send_batch_unique(tx, batch);
    if (!r) return r.error();
    sent = *r;
    return {};
  });
  CAF_REQUIRE(!err);
  CAF_REQUIRE_EQUAL(sent.size(), batch.size());
  const std::vector<bool> dup{false, false, true, false, true, true, true};
  for (size_t i = 0; i < dup.size(); ++i) CAF_CHECK_EQUAL(sent[i].duplicate, dup[i]);
  CAF_CHECK_EQUAL(sent[2].id, sent[0].id);
  CAF_CHECK_EQUAL(sent[6].id, sent[0].id);
  CAF_CHECK_EQUAL(sent[5].id, sent[1].id);
  CAF_CHECK_EQUAL(sent[4].id, held.id);
  CAF_CHECK(sent[0].id < sent[1].id && sent[1].id < sent[3].id);  // input order
  CAF_CHECK_EQUAL(count("SELECT count(*) FROM postbox.mailbox WHERE queue = 'batch'"), 4);
  CAF_CHECK_EQUAL(live("batch", "a"), 1);
  CAF_CHECK_EQUAL(live("batch", "b"), 1);
  // send_batch (ids only) goes the same way.
  auto ids = mailbox.send_batch({keyed("batch", "a"), keyed("batch", "c")});
  CAF_REQUIRE(ids);
  CAF_CHECK_EQUAL(ids->at(0), sent[0].id);
  CAF_CHECK_EQUAL(count("SELECT count(*) FROM postbox.mailbox WHERE queue = 'batch'"), 5);
}

CAF_TEST(a keyed actor duplicate takes no number and the key stays gapless) {
  test::exec(dsn, "INSERT INTO postbox.actor_types (actor_type, queue) VALUES ('acct', 'acctq')");
  auto to_actor = [](const std::string& key) {
    outgoing_message m;
    m.type = "deposit";
    m.actor_type = "acct";
    m.actor_key = "a1";
    m.dedup_key = key;
    return m;
  };
  CAF_REQUIRE(mailbox.send(to_actor("")));
  auto x = send(to_actor("x"));
  CAF_CHECK(!x.duplicate);
  auto x2 = send(to_actor("x"));  // its own transaction: skipped, no number
  CAF_CHECK(x2.duplicate);
  CAF_CHECK_EQUAL(x2.id, x.id);
  auto batch = mailbox.send_batch({to_actor("y"), to_actor("x"), to_actor("y"), to_actor("")});
  CAF_REQUIRE(batch);
  // SQL API too, with the queue left to the actor type's.
  CAF_CHECK_EQUAL(
      text("SELECT duplicate FROM postbox.send_dedup(NULL, 'deposit', '{}', actor_type => "
           "'acct', actor_key => 'a1', dedup_key => 'y')"),
      "t");
  CAF_CHECK_EQUAL(count("SELECT count(*) FROM postbox.mailbox WHERE actor_key = 'a1'"), 4);
  CAF_CHECK_EQUAL(text("SELECT string_agg(actor_seq::text, ',' ORDER BY actor_seq) FROM "
                       "postbox.mailbox WHERE actor_key = 'a1'"),
                  "1,2,3,4");
  CAF_CHECK_EQUAL(
      text(
          "SELECT next_seq FROM postbox.actor_seqs WHERE actor_type = 'acct' AND actor_key = 'a1'"),
      "4");
  CAF_CHECK_EQUAL(count("SELECT count(*) FROM postbox.mailbox WHERE queue = 'acctq' AND "
                        "dedup_key IN ('x', 'y')"),
                  2);
}

CAF_TEST(a duplicate in a handler send commits its ack and the worker goes on) {
  auto a = node("a");
  auto b = node("b");
  for (int n = 1; n <= 3; ++n) {
    outgoing_message m;
    m.queue = "dedup";
    m.type = "forward";
    m.payload =
        R"({"key": ")" + std::string(n < 3 ? "f" : "g") + R"(", "n": )" + std::to_string(n) + "}";
    CAF_REQUIRE(mailbox.send(m));
  }
  CAF_REQUIRE(test::wait_until([&] { return count("SELECT count(*) FROM forwarded") == 3; }, 60s));
  CAF_REQUIRE(test::wait_until(
      [&] { return count("SELECT count(*) FROM postbox.mailbox WHERE queue = 'dedup'") == 0; },
      10s));
  CAF_CHECK_EQUAL(count("SELECT count(*) FROM postbox.dead_letters"), 0);
  // Each forward sent its key twice; nobody consumes dedup_sink: one message per key.
  CAF_CHECK_EQUAL(count("SELECT count(*) FROM postbox.mailbox WHERE queue = 'dedup_sink'"), 2);
  CAF_CHECK_EQUAL(live("dedup_sink", "f"), 1);
  CAF_CHECK_EQUAL(live("dedup_sink", "g"), 1);
  CAF_CHECK_EQUAL(count("SELECT max(attempts) FROM postbox.mailbox"), 0);
}

CAF_TEST(fan_out children that are duplicates arrive at once and continuations dedup) {
  auto a = node("b");
  // A live holder of key y: both children of the fan_out are its duplicates, so neither
  // is sent, both arrive as errors, and the group fires its callback.
  auto held = send(keyed("dedup_sink", "y"));
  outgoing_message m;
  m.queue = "dedup";
  m.type = "spread";
  m.payload = R"({"keys": ["y", "y"]})";
  CAF_REQUIRE(mailbox.send(m));
  // Two messages whose on_success carries one dedup key: one continuation is enqueued.
  for (int i = 0; i < 2; ++i) {
    outgoing_message s;
    s.queue = "dedup_slow";
    s.type = "slow";
    s.payload = R"({"sleep_ms": 0})";
    s.headers = R"({"on_success": {"queue": "dedup_sink", "type": "cont", "dedup_key": "c1"}})";
    CAF_REQUIRE(mailbox.send(s));
  }
  CAF_REQUIRE(test::wait_until(
      [&] {
        return count(
                   "SELECT count(*) FROM postbox.mailbox WHERE queue = 'dedup_sink' AND "
                   "type = 'spread_done'") == 1 &&
               count("SELECT count(*) FROM slow_done") == 2;
      },
      60s));
  CAF_CHECK_EQUAL(count("SELECT count(*) FROM postbox.mailbox WHERE queue = 'dedup_sink' AND "
                        "type = 'spread_done' AND payload::text LIKE '%held by live message " +
                        std::to_string(held.id) + "%'"),
                  1);
  CAF_CHECK_EQUAL(count("SELECT count(*) FROM postbox.mailbox WHERE queue = 'dedup_sink' AND "
                        "type = 'sunk'"),
                  0);  // neither child was sent
  CAF_CHECK_EQUAL(count("SELECT count(*) FROM postbox.mailbox WHERE queue = 'dedup_sink' AND "
                        "type = 'cont'"),
                  1);
  CAF_CHECK_EQUAL(live("dedup_sink", "c1"), 1);
  CAF_CHECK_EQUAL(count("SELECT count(*) FROM postbox.dead_letters"), 0);
}

CAF_TEST(a program send entry with a dedup key enqueues once) {
  const auto script = test::write_file(dir + "/dedup_program.sh", R"(#!/bin/sh
# Every message: two sends with one dedup key (the second a duplicate).
while IFS= read -r line; do
  echo '{"ok": true, "send": [{"queue": "dedup_sink", "type": "prog", "payload": {}, "dedup_key": "pk"}, {"queue": "dedup_sink", "type": "prog", "payload": {}, "dedup_key": "pk", "dedup_mode": "until_done"}]}'
done
)");
  const auto topo = test::write_file(dir + "/program.yaml", R"(cluster: dedup_program
database: { dsn: "${POSTBOX_DSN}" }
queues:
  dedup_prog: { visibility_timeout: 5s, max_attempts: 1, poll_interval: 100ms }
programs:
  dp:
    argv: ["/bin/sh", ")" + script + R"("]
    queue: dedup_prog
    types: [job]
nodes:
  p:
    actors:
      - { program: dp }
)");
  test::node_process p{topo, "p", test::as_uri(dsn)};
  CAF_REQUIRE(p.start());
  for (int i = 0; i < 2; ++i) {
    outgoing_message m;
    m.queue = "dedup_prog";
    m.type = "job";
    CAF_REQUIRE(mailbox.send(m));
  }
  CAF_REQUIRE(test::wait_until(
      [&] { return count("SELECT count(*) FROM postbox.mailbox WHERE queue = 'dedup_prog'") == 0; },
      60s));
  CAF_CHECK_EQUAL(count("SELECT count(*) FROM postbox.dead_letters"), 0);
  CAF_CHECK_EQUAL(
      count("SELECT count(*) FROM postbox.mailbox WHERE queue = 'dedup_sink' AND type = 'prog'"),
      1);
  CAF_CHECK_EQUAL(live("dedup_sink", "pk"), 1);
}

CAF_TEST(the SQL API and the CLI report duplicates) {
  CAF_CHECK_EQUAL(text("SELECT postbox.send('api', 'job', '{}', dedup_key => 'k')"),
                  text("SELECT postbox.send('api', 'job', '{\"x\": 1}', dedup_key => 'k')"));
  CAF_CHECK_EQUAL(live("api", "k"), 1);
  pqxx::connection c{dsn};
  pqxx::work w{c};
  bool refused = false;
  try {
    w.exec("SELECT postbox.send('api', 'job', '{}', dedup_key => 'k', dedup_mode => 'ttl')");
  } catch (const pqxx::sql_error& e) {
    refused = std::string(e.what()).find("dedup_ttl") != std::string::npos;
  }
  CAF_CHECK(refused);
  w.abort();
  auto one = test::run_cli({"--dsn", dsn, "send", "--queue", "cli", "--type", "job",
                            "--json-payload", "{}", "--dedup-key", "c", "--force"});
  CAF_CHECK_EQUAL(one.exit_code, 0);
  auto two = test::run_cli({"--dsn", dsn, "send", "--queue", "cli", "--type", "job",
                            "--json-payload", "{}", "--dedup-key", "c", "--force"});
  CAF_CHECK_EQUAL(two.exit_code, 0);
  CAF_CHECK(two.out.find("duplicate: true") != std::string::npos);
  auto three = test::run_cli({"--dsn", dsn, "--json", "send", "--queue", "cli", "--type", "job",
                              "--json-payload", "{}", "--dedup-key", "c", "--force"});
  CAF_CHECK(three.out.find("\"duplicate\":true") != std::string::npos);
  CAF_CHECK_EQUAL(live("cli", "c"), 1);
  auto bad =
      test::run_cli({"--dsn", dsn, "send", "--queue", "cli", "--type", "job", "--json-payload",
                     "{}", "--dedup-key", "c", "--dedup", "ttl", "--force"});
  CAF_CHECK_EQUAL(bad.exit_code, 2);
  CAF_CHECK_EQUAL(live("cli", "c"), 1);
}

CAF_TEST_FIXTURE_SCOPE_END()

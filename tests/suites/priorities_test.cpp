// Priorities (issue 23 item 3): four tiers claimed highest first, one index range per
// tier; aging so a low message is not starved; inside an actor key the send order wins;
// a bad tier's name is refused and nothing is enqueued.
#define CAF_SUITE priorities
#include <algorithm>
#include <atomic>
#include <caf/test/unit_test.hpp>
#include <pqxx/pqxx>
#include <set>
#include <thread>

#include "actors/maintenance/reaper.hpp"
#include "config/topology.hpp"
#include "messages/json_codec.hpp"
#include "persistence/limit_store.hpp"
#include "persistence/mailbox_store.hpp"
#include "support/files.hpp"
#include "support/node_process.hpp"
#include "support/pg_fixture.hpp"
#include "support/values.hpp"

using namespace postbox;
using postbox::test::source_path;
using postbox::test::value_of;
using namespace std::chrono_literals;

namespace {

struct fixture {
  std::string dsn = test::create_migrated_database("priorities");
  pg_session session{{dsn, "priorities-test"}};
  mailbox_store mailbox{session};

  static outgoing_message msg(const std::string& queue, std::optional<priority> p, int n) {
    outgoing_message m;
    m.queue = queue;
    m.type = "job";
    m.payload = R"({"n":)" + std::to_string(n) + "}";
    m.priority = p;
    return m;
  }

  void send_many(const std::string& queue, priority p, int n, int first = 0) {
    std::vector<outgoing_message> batch;
    for (int i = 0; i < n; ++i) {
      batch.push_back(msg(queue, p, first + i));
      if (batch.size() == 1000 || i + 1 == n) {
        CAF_REQUIRE(mailbox.send_batch(batch));
        batch.clear();
      }
    }
  }

  long long count(const std::string& sql) { return test::count(dsn, sql); }

  /// The tier of the message a SQL send (`sql`, returning its id) enqueued.
  long long sql_send(const std::string& sql) { return tier_of(std::stoll(test::scalar(dsn, sql))); }

  /// The tier of message `id` as the database holds it.
  long long tier_of(int64_t id) {
    return count("SELECT priority FROM postbox.mailbox WHERE id = " + std::to_string(id));
  }
};

}  // namespace

CAF_TEST_FIXTURE_SCOPE(priorities_tests, fixture)

CAF_TEST(a backlog of ten thousand low then one hundred urgent claims the urgent first) {
  send_many("work", priority::low, 10000);
  send_many("work", priority::urgent, 100, 10000);
  CAF_REQUIRE_EQUAL(count("SELECT count(*) FROM postbox.mailbox WHERE priority = 0"), 10000);
  CAF_REQUIRE_EQUAL(count("SELECT count(*) FROM postbox.mailbox WHERE priority = 3"), 100);
  // Claim in batches of 16 (a node's claim_batch), recording the order.
  std::vector<int64_t> order;
  while (order.size() < 112) {
    auto got = mailbox.read("work", 16, 60s, "reader");
    CAF_REQUIRE(got);
    CAF_REQUIRE(!got->empty());
    // One claim takes its rows at once: in a claim, list them highest tier first.
    std::vector<std::pair<long long, int64_t>> claim;
    for (const auto& d : *got) claim.emplace_back(-tier_of(d.id), d.id);
    std::sort(claim.begin(), claim.end());
    for (const auto& c : claim) order.push_back(c.second);
  }
  // The first 100 claims are the urgent ones, then the low ones from the oldest.
  std::set<int64_t> urgent_ids;
  for (size_t i = 0; i < order.size(); ++i) {
    auto t = tier_of(order[i]);
    if (i < 100) {
      CAF_CHECK_EQUAL(t, 3);
      urgent_ids.insert(order[i]);
    } else {
      CAF_CHECK_EQUAL(t, 0);
    }
  }
  CAF_CHECK_EQUAL(urgent_ids.size(), 100u);
  // In the database: every urgent message leased, exactly 12 low ones, the oldest.
  CAF_CHECK_EQUAL(
      count("SELECT count(*) FROM postbox.mailbox WHERE priority = 3 AND receipt IS NOT NULL"),
      100);
  CAF_CHECK_EQUAL(
      count("SELECT count(*) FROM postbox.mailbox WHERE priority = 0 AND receipt IS NOT NULL"), 12);
  CAF_CHECK_EQUAL(count("SELECT count(*) FROM (SELECT id FROM postbox.mailbox WHERE priority = 0 "
                        "ORDER BY id LIMIT 12) o JOIN postbox.mailbox m USING (id) "
                        "WHERE m.receipt IS NOT NULL"),
                  12);
}

CAF_TEST(the claim is one index range per tier with no sort and no sequential scan) {
  send_many("work", priority::low, 10000);
  send_many("work", priority::normal, 2000);
  send_many("work", priority::urgent, 5);
  send_many("other", priority::high, 5000);
  test::exec(dsn, "ANALYZE postbox.mailbox");
  pqxx::connection c{dsn};
  pqxx::nontransaction tx{c};
  tx.exec("PREPARE claim(text, int, bigint, text, text, text[], text[], int, bigint) AS " +
          test::read_text(source_path("persistence/sql/mailbox_read.sql")));
  // The first executions get custom plans, later ones the generic plan: check both, with
  // and without the reader's types ($6), in a transaction rolled back (it leases rows).
  for (const char* mode : {"force_custom_plan", "force_generic_plan"}) {
    for (const char* types : {"NULL", "'{job}'"}) {
      tx.exec(std::string("SET plan_cache_mode = ") + mode);
      tx.exec("BEGIN");
      std::string plan;
      for (const auto& row :
           tx.exec(std::string("EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF) EXECUTE claim('work', 16, "
                               "30000, 'me', 'inc', ") +
                   types + ", NULL, 0, 10000)"))
        plan += std::string(row[0].c_str()) + "\n";
      tx.exec("ROLLBACK");
      CAF_MESSAGE(mode << " types " << types << ":\n" << plan);
      // Every executed plan node on the mailbox is an index scan; the orphan sweep's
      // (off: $7 NULL) is never executed.
      std::istringstream lines(plan);
      std::string line;
      int executed_seq = 0, executed_sort = 0;
      while (std::getline(lines, line)) {
        const bool never = line.find("never executed") != std::string::npos;
        if (line.find("Seq Scan on mailbox") != std::string::npos && !never) ++executed_seq;
        if (line.find("Sort") != std::string::npos && line.find("Sort Key") == std::string::npos &&
            !never)
          ++executed_sort;
      }
      CAF_CHECK_EQUAL(executed_seq, 0);
      CAF_CHECK_EQUAL(executed_sort, 0);
      for (int k = 3; k >= 0; --k)
        CAF_CHECK_NOT_EQUAL(plan.find("(priority = " + std::to_string(k) + ")"), std::string::npos);
      CAF_CHECK(plan.find("using mailbox_claim_idx") != std::string::npos ||
                plan.find("using mailbox_type_claim_idx") != std::string::npos);
      // 5 urgent then 11 normal: the low range is never read.
      CAF_CHECK_NOT_EQUAL(plan.find("Update on mailbox m (actual rows=16"), std::string::npos);
    }
  }
  // Nothing stayed leased.
  CAF_CHECK_EQUAL(count("SELECT count(*) FROM postbox.mailbox WHERE receipt IS NOT NULL"), 0);
}

CAF_TEST(aging claims the oldest low within its bound under a steady stream of high) {
  // aging_after 1 s: the low message is normal after 1 s and high after 2 s, then the
  // oldest high. Bound: 2 x aging_after + the sweep interval (200 ms) + 1 s of slack.
  auto low = mailbox.send(msg("busy", priority::low, 0));
  CAF_REQUIRE(low);
  send_many("busy", priority::high, 200, 1);
  const auto start = std::chrono::steady_clock::now();
  std::atomic<bool> stop{false};
  // A producer keeps the high tier full: 20 more every 50 ms.
  std::thread producer([&] {
    pg_session s{{dsn, "producer"}};
    mailbox_store mb{s};
    int n = 1000;
    while (!stop) {
      std::vector<outgoing_message> batch;
      for (int i = 0; i < 20; ++i) batch.push_back(msg("busy", priority::high, n++));
      (void)mb.send_batch(batch);
      std::this_thread::sleep_for(50ms);
    }
  });
  // The reaper's sweep, every 200 ms.
  std::thread sweeper([&] {
    pg_session s{{dsn, "reaper"}};
    reaper_settings rs;
    rs.interval = 200ms;
    rs.aging_after = 1s;
    reaper r{s, rs, "test-reaper"};
    while (!stop) {
      (void)r.run_once();
      std::this_thread::sleep_for(200ms);
    }
  });
  // A consumer slower than the producer: 4 every 50 ms, acked.
  std::optional<std::chrono::milliseconds> low_after;
  int high_claimed = 0;
  while (!low_after && std::chrono::steady_clock::now() - start < 10s) {
    auto got = mailbox.read("busy", 4, 60s, "consumer");
    CAF_REQUIRE(got);
    for (const auto& d : *got) {
      if (d.id == *low)
        low_after = std::chrono::duration_cast<std::chrono::milliseconds>(
            std::chrono::steady_clock::now() - start);
      else
        ++high_claimed;
      CAF_REQUIRE(!mailbox.ack(d.to_lease()));
    }
    std::this_thread::sleep_for(50ms);
  }
  stop = true;
  producer.join();
  sweeper.join();
  CAF_REQUIRE(low_after.has_value());
  CAF_MESSAGE("low claimed after " << low_after->count() << " ms, " << high_claimed
                                   << " high before it");
  CAF_CHECK_LESS(low_after->count(), 3200);
  CAF_CHECK_GREATER_OR_EQUAL(low_after->count(), 1900);  // not before it aged twice
  CAF_CHECK_GREATER(high_claimed, 0);
  // The high tier still had a backlog when it went: it was aging, not an empty queue.
  CAF_CHECK_GREATER(count("SELECT count(*) FROM postbox.mailbox WHERE queue = 'busy' "
                          "AND priority = 2 AND receipt IS NULL"),
                    0);
  CAF_CHECK_EQUAL(count("SELECT count(*) FROM postbox.mailbox WHERE id = " + std::to_string(*low)),
                  0);  // acked
}

CAF_TEST(aging moves a ready message one tier per aging_after and leaves fresh ones) {
  auto old_low = mailbox.send(msg("a", priority::low, 1));
  auto old_normal = mailbox.send(msg("b", priority::normal, 2));
  auto fresh = mailbox.send(msg("a", priority::low, 3));
  auto urgent = mailbox.send(msg("a", priority::urgent, 4));
  CAF_REQUIRE(old_low && old_normal && fresh && urgent);
  // Ready for 90 s (aging_after 60 s): low -> normal; normal needs 2 x 60 s: stays.
  test::exec(dsn,
             "UPDATE postbox.mailbox SET visible_at = now() - interval '90 seconds' "
             "WHERE id IN (" +
                 std::to_string(*old_low) + "," + std::to_string(*old_normal) + "," +
                 std::to_string(*urgent) + ")");
  reaper_settings rs;
  rs.aging_after = 60s;
  reaper r{session, rs, "test-reaper"};
  auto c = r.run_once();
  CAF_REQUIRE(c);
  CAF_CHECK_EQUAL(c->priorities_aged, 1);
  CAF_CHECK_EQUAL(tier_of(*old_low), 1);
  CAF_CHECK_EQUAL(tier_of(*old_normal), 1);
  CAF_CHECK_EQUAL(tier_of(*fresh), 0);
  CAF_CHECK_EQUAL(tier_of(*urgent), 3);
  // Ready for 150 s: normal -> high (2 x 60 s); not urgent before 3 x 60 s.
  test::exec(dsn,
             "UPDATE postbox.mailbox SET visible_at = now() - interval '150 seconds' "
             "WHERE id = " +
                 std::to_string(*old_normal));
  CAF_REQUIRE(r.run_once());
  CAF_CHECK_EQUAL(tier_of(*old_normal), 2);
  CAF_CHECK_EQUAL(tier_of(*old_low), 1);
  CAF_REQUIRE(r.run_once());
  CAF_CHECK_EQUAL(tier_of(*old_normal), 2);
}

CAF_TEST(inside an actor key the send order wins and across keys the tier of the head) {
  auto keyed = [&](const std::string& key, priority p, int n) {
    auto m = msg("actors", p, n);
    m.actor_type = "account";
    m.actor_key = key;
    auto id = mailbox.send(m);  // its own transaction: commit order = send order
    CAF_REQUIRE(id);
    return *id;
  };
  const int64_t k1_low = keyed("k1", priority::low, 1);
  const int64_t k1_urgent = keyed("k1", priority::urgent, 2);
  const int64_t k1_normal = keyed("k1", priority::normal, 3);
  const int64_t k2_urgent = keyed("k2", priority::urgent, 4);
  // One head per key is claimable: k1's low (its first), k2's urgent.
  CAF_CHECK_EQUAL(count("SELECT count(*) FROM postbox.mailbox WHERE visible_at <= now()"), 2);
  std::vector<int64_t> order;
  for (int i = 0; i < 10 && order.size() < 4; ++i) {
    test::exec(dsn, "SELECT postbox.actor_promote('actors', 100)");
    auto got = mailbox.read("actors", 1, 60s, "reader");
    CAF_REQUIRE(got);
    for (const auto& d : *got) {
      order.push_back(d.id);
      CAF_REQUIRE(!mailbox.ack(d.to_lease()));
    }
  }
  CAF_CHECK_EQUAL(order, (std::vector<int64_t>{k2_urgent, k1_low, k1_urgent, k1_normal}));
  CAF_CHECK_EQUAL(count("SELECT count(*) FROM postbox.mailbox"), 0);
}

CAF_TEST(a bad tier name is refused and nothing is enqueued) {
  try {
    test::exec(dsn, "SELECT postbox.send('work', 'job', '{}', priority => 'hgh')");
    CAF_FAIL("a bad priority name was accepted");
  } catch (const std::exception& e) {
    const std::string what = e.what();
    CAF_MESSAGE(what);
    CAF_CHECK_NOT_EQUAL(
        what.find("postbox.send: priority must be one of low, normal, high, urgent, got \"hgh\""),
        std::string::npos);
  }
  try {
    test::exec(dsn,
               "SELECT postbox.send('work', 'job', '{}', headers => "
               "'{\"on_success\": {\"queue\": \"q\", \"type\": \"t\", \"priority\": 9}}')");
    CAF_FAIL("a bad continuation priority was accepted");
  } catch (const std::exception& e) {
    CAF_CHECK_NOT_EQUAL(std::string(e.what()).find("priority must be one of"), std::string::npos);
  }
  CAF_CHECK_EQUAL(count("SELECT count(*) FROM postbox.mailbox"), 0);
  // A good name, and none: normal.
  CAF_CHECK_EQUAL(sql_send("SELECT postbox.send('work', 'job', '{}', priority => 'urgent')"), 3);
  CAF_CHECK_EQUAL(sql_send("SELECT postbox.send('work', 'job', '{}')"), 1);
  // A continuation's tier by name, in the node's decoding too.
  auto bad =
      decode_message_headers(R"({"on_error": {"queue": "q", "type": "t", "priority": "top"}})");
  CAF_REQUIRE(!bad);
  CAF_CHECK_NOT_EQUAL(describe(bad.error()).find("on_error.priority"), std::string::npos);
  auto good =
      decode_message_headers(R"({"on_error": {"queue": "q", "type": "t", "priority": "high"}})");
  CAF_REQUIRE(good);
  CAF_CHECK_EQUAL(good->on_error.priority, 2);
  CAF_CHECK_NOT_EQUAL(to_json(*good).find(R"("priority":"high")"), std::string::npos);
}

CAF_TEST(a type default tier from the topology applies when a send names none) {
  CAF_REQUIRE(!mailbox.set_type_priorities({{"report", priority::high}}, "node-a"));
  auto m = msg("work", std::nullopt, 1);
  m.type = "report";
  auto by_default = mailbox.send(m);
  m.priority = priority::low;
  auto named = mailbox.send(m);
  auto other = mailbox.send(msg("work", std::nullopt, 2));  // type job: normal
  CAF_REQUIRE(by_default && named && other);
  CAF_CHECK_EQUAL(tier_of(*by_default), 2);
  CAF_CHECK_EQUAL(tier_of(*named), 0);
  CAF_CHECK_EQUAL(tier_of(*other), 1);
  // Batches and SQL sends too.
  m.priority.reset();
  auto ids = mailbox.send_batch({m, msg("work", priority::urgent, 3)});
  CAF_REQUIRE(ids);
  CAF_CHECK_EQUAL(tier_of((*ids)[0]), 2);
  CAF_CHECK_EQUAL(tier_of((*ids)[1]), 3);
  CAF_CHECK_EQUAL(sql_send("SELECT postbox.send('work', 'report', '{}')"), 2);
  // A topology without it removes it.
  CAF_REQUIRE(!mailbox.set_type_priorities({}, "node-a"));
  CAF_CHECK_EQUAL(count("SELECT count(*) FROM postbox.type_priorities"), 0);
  CAF_CHECK_EQUAL(sql_send("SELECT postbox.send('work', 'report', '{}')"), 1);
}

CAF_TEST(the cli sends with a tier and refuses a bad one and shows ready per tier) {
  auto sent = test::run_cli({"--dsn", dsn, "send", "--queue", "work", "--type", "job",
                             "--json-payload", "{}", "--priority", "urgent", "--force"});
  CAF_CHECK_EQUAL(sent.exit_code, 0);
  CAF_CHECK_EQUAL(count("SELECT count(*) FROM postbox.mailbox WHERE priority = 3"), 1);
  auto bad = test::run_cli({"--dsn", dsn, "send", "--queue", "work", "--type", "job",
                            "--json-payload", "{}", "--priority", "hgh", "--force"});
  CAF_MESSAGE(bad.err);
  CAF_CHECK_EQUAL(bad.exit_code, 2);
  CAF_CHECK_NOT_EQUAL(bad.err.find("--priority"), std::string::npos);
  CAF_CHECK_EQUAL(count("SELECT count(*) FROM postbox.mailbox"), 1);  // nothing more
  send_many("work", priority::low, 3);
  auto queues = test::run_cli({"--dsn", dsn, "--json", "queues"});
  CAF_CHECK_EQUAL(queues.exit_code, 0);
  CAF_MESSAGE(queues.out);
  CAF_CHECK_NOT_EQUAL(
      queues.out.find(R"("ready_by_priority":{"low":3,"normal":0,"high":0,"urgent":1})"),
      std::string::npos);
}

CAF_TEST(aging claims a throttled low within its bound under a rate saturated by high) {
  // A queue under rate 20/s that a stream of high messages (30/s) keeps saturated: the
  // limited claim sends every candidate it has no token for to wait (its visible_at
  // moves to its next token), the low one too, over and over, as long as the ready
  // high ones are fewer than a claim scans (which takes about 10 s at 30/s). Aging counts from when it
  // first became ready (ready_at, migration 027), so it is urgent after 3 x aging_after
  // and then takes the next token. Bound: 3 x aging_after + sweep + 1 s of slack.
  auto topo = load_topology_string(
      "database: {dsn: 'dbname=x'}\n"
      "nodes: {a: {actors: [{queue: rated, concurrency: 4}]}}\n"
      "queues:\n  rated: {rate: 20/s, burst: 1}\n",
      "priorities.yaml");
  CAF_REQUIRE(topo);
  limit_store limits{session};
  CAF_REQUIRE(!limits.sync(*topo));
  auto low = mailbox.send(msg("rated", priority::low, 0));
  CAF_REQUIRE(low);
  send_many("rated", priority::high, 20, 1);
  const auto start = std::chrono::steady_clock::now();
  std::atomic<bool> stop{false};
  std::thread producer([&] {
    pg_session s{{dsn, "producer"}};
    mailbox_store mb{s};
    int n = 1000;
    while (!stop) {
      std::vector<outgoing_message> batch;
      for (int i = 0; i < 3; ++i) batch.push_back(msg("rated", priority::high, n++));
      (void)mb.send_batch(batch);
      std::this_thread::sleep_for(100ms);
    }
  });
  std::thread sweeper([&] {
    pg_session s{{dsn, "reaper"}};
    reaper_settings rs;
    rs.interval = 200ms;
    rs.aging_after = 1s;
    reaper r{s, rs, "test-reaper"};
    while (!stop) {
      (void)r.run_once();
      std::this_thread::sleep_for(200ms);
    }
  });
  std::optional<std::chrono::milliseconds> low_after;
  bool low_waited = false;  // the claim did send the low one to wait for a token
  int high_claimed = 0;
  while (!low_after && std::chrono::steady_clock::now() - start < 12s) {
    auto got = mailbox.read("rated", 4, 60s, "consumer", {}, nullptr, nullptr, 6s, true);
    CAF_REQUIRE(got);
    for (const auto& d : *got) {
      if (d.id == *low)
        low_after = std::chrono::duration_cast<std::chrono::milliseconds>(
            std::chrono::steady_clock::now() - start);
      else
        ++high_claimed;
      CAF_REQUIRE(!mailbox.ack(d.to_lease()));
    }
    if (!low_after && !low_waited)
      low_waited = count("SELECT count(*) FROM postbox.mailbox WHERE id = " + std::to_string(*low) +
                         " AND limit_wait = 'rate'") == 1;
    std::this_thread::sleep_for(50ms);
  }
  stop = true;
  producer.join();
  sweeper.join();
  CAF_CHECK(low_waited);
  CAF_REQUIRE(low_after.has_value());
  CAF_MESSAGE("throttled low claimed after " << low_after->count() << " ms, " << high_claimed
                                             << " high before it");
  CAF_CHECK_LESS(low_after->count(), 4500);
  CAF_CHECK_GREATER_OR_EQUAL(low_after->count(), 1900);
  CAF_CHECK_GREATER(high_claimed, 0);
  // The rate held: about 20/s over the run (burst 1), never the producer's 30/s.
  CAF_CHECK_LESS(high_claimed, static_cast<int>(low_after->count() / 50 + 10));
}

CAF_TEST_FIXTURE_SCOPE_END()

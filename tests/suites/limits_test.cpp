// Cluster-wide limits (guarantee 13, second half; migration 025) on real node processes
// (tests/actors_node/limits_main.cpp, type work): max_in_flight across three nodes,
// slots of a node killed -9 freed within the lease, a rate with a small burst, and a
// limit on one key not delaying another. Runs record start and end in `runs`; the
// largest overlap is computed in SQL. Node b's DSN is a URI, the others' key=value.
#define CAF_SUITE limits
#include <atomic>
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
  std::string dsn = test::create_migrated_database("limits");
  std::string dir = test::make_temp_dir("limits");

  fixture() {
    test::exec(dsn,
               "CREATE TABLE runs (message_id bigint, queue text, key text, owner text, "
               "started_us bigint, ended_us bigint)");
  }

  std::string topology() {
    return test::write_file(dir + "/limits.yaml", R"(cluster: limits
database: { dsn: "${POSTBOX_DSN}" }
drain_timeout: 5s
queues:
  lim: { max_in_flight: 3, visibility_timeout: 2s, claim_batch: 4, poll_interval: 100ms }
  rated: { max_in_flight: 3, rate: 20/s, burst: 2, visibility_timeout: 3s, poll_interval: 100ms }
  keyed_lim: { visibility_timeout: 3s, claim_batch: 4, poll_interval: 100ms }
limits:
  slow: { max_in_flight: 1 }
  fast: { max_in_flight: 2 }
nodes:
  a:
    actors:
      - { queue: lim, concurrency: 4 }
      - { queue: rated, concurrency: 4 }
      - { queue: keyed_lim, concurrency: 4 }
  b:
    actors:
      - { queue: lim, concurrency: 4 }
      - { queue: rated, concurrency: 4 }
      - { queue: keyed_lim, concurrency: 4 }
  c:
    actors:
      - { queue: lim, concurrency: 4 }
      - { queue: rated, concurrency: 4 }
      - { queue: keyed_lim, concurrency: 4 }
)");
  }

  std::unique_ptr<test::node_process> node(const std::string& name) {
    auto form = name == "b" ? test::as_uri(dsn) : test::as_key_value(dsn);
    auto n = std::make_unique<test::node_process>(topology(), name, form);
    n->use_binary("postbox-test-limits");
    CAF_REQUIRE(n->start());
    return n;
  }

  long long count(const std::string& sql) { return test::count(dsn, sql); }

  /// `n` work items to `queue` with limit key `key` ("" none) sleeping `sleep_ms`.
  void send(const std::string& queue, const std::string& key, int n, int sleep_ms) {
    pg_session s{session_options{dsn, "limits-sender"}};
    mailbox_store mailbox{s};
    std::vector<outgoing_message> batch;
    for (int i = 0; i < n; ++i) {
      outgoing_message m;
      m.queue = queue;
      m.type = "work";
      m.payload = R"({"key": ")" + key + R"(", "sleep_ms": )" + std::to_string(sleep_ms) + "}";
      m.limit_key = key;
      batch.push_back(std::move(m));
    }
    CAF_REQUIRE(mailbox.send_batch(batch));
  }

  /// The most runs of `queue` (and limit key `key`, "" any) that overlapped at any start.
  long long max_overlap(const std::string& queue, const std::string& key = "") {
    const std::string k =
        key.empty() ? "" : " AND r1.key = '" + key + "' AND r2.key = '" + key + "'";
    return count(
        "SELECT COALESCE(max(c), 0) FROM (SELECT r1.message_id, count(*) AS c FROM runs r1 "
        "JOIN runs r2 ON r2.started_us <= r1.started_us AND r2.ended_us > r1.started_us "
        "WHERE r1.queue = '" +
        queue + "' AND r2.queue = '" + queue + "'" + k + " GROUP BY r1.message_id) t");
  }
  /// Slots held right now by a message that waits for a token: must never be.
  long long throttled_holding() {
    return count(
        "SELECT count(*) FROM postbox.limit_slots s JOIN postbox.mailbox m ON m.id = s.message_id "
        "WHERE s.lease_until > now() AND m.limit_wait = 'rate'");
  }
};

}  // namespace

CAF_TEST_FIXTURE_SCOPE(limits_tests, fixture)

CAF_TEST(max_in_flight 3 holds across three nodes with twelve workers) {
  auto a = node("a");
  auto b = node("b");
  auto c = node("c");
  send("lim", "", 60, 100);
  long long most_slots = 0;
  CAF_REQUIRE(test::wait_until(
      [&] {
        most_slots =
            std::max(most_slots, count("SELECT count(*) FROM postbox.limit_slots "
                                       "WHERE message_id IS NOT NULL AND lease_until > now()"));
        return count("SELECT count(*) FROM runs WHERE queue = 'lim'") == 60 &&
               count("SELECT count(*) FROM postbox.mailbox") == 0;
      },
      60s, 20ms));
  const auto overlap = max_overlap("lim");
  CAF_MESSAGE(
      "largest overlap " << overlap << ", most slots held " << most_slots << ", by "
                         << count("SELECT count(DISTINCT split_part(owner, '/', 1)) FROM runs")
                         << " nodes");
  CAF_CHECK_LESS_OR_EQUAL(overlap, 3);
  CAF_CHECK_GREATER_OR_EQUAL(overlap, 2);  // the limit, not a lack of work, bounded it
  CAF_CHECK_LESS_OR_EQUAL(most_slots, 3);
  CAF_CHECK_EQUAL(count("SELECT count(*) FROM postbox.limit_slots WHERE message_id IS NOT NULL"),
                  0);
  CAF_CHECK_EQUAL(count("SELECT count(DISTINCT message_id) FROM runs"), 60);
  CAF_CHECK_EQUAL(count("SELECT count(*) FROM postbox.dead_letters"), 0);
}

CAF_TEST(the slots of a node killed while holding them free within the lease) {
  auto a = node("a");
  send("lim", "", 3, 600000);  // node a holds the three slots, for ever
  CAF_REQUIRE(test::wait_until(
      [&] {
        return count(
                   "SELECT count(*) FROM postbox.limit_slots "
                   "WHERE message_id IS NOT NULL AND lease_until > now()") == 3;
      },
      30s));
  send("lim", "", 9, 50);
  a->signal(SIGKILL);
  a->wait_exit(10s);
  const auto killed = std::chrono::steady_clock::now();
  // The long ones run again, shortly, on the nodes left.
  test::exec(dsn, "UPDATE postbox.mailbox SET payload = jsonb_set(payload, '{sleep_ms}', '50')");
  auto b = node("b");
  auto c = node("c");
  CAF_REQUIRE(test::wait_until(
      [&] {
        return count("SELECT count(*) FROM runs") == 12 &&
               count("SELECT count(*) FROM postbox.mailbox") == 0;
      },
      30s));
  const auto took = std::chrono::duration_cast<std::chrono::milliseconds>(
      std::chrono::steady_clock::now() - killed);
  CAF_MESSAGE("all 12 done " << took.count() << " ms after the kill (lease 2 s)");
  // Within the lease (2 s) plus node starts and twelve short runs three at a time.
  CAF_CHECK_LESS(took, 12s);
  CAF_CHECK_LESS_OR_EQUAL(max_overlap("lim"), 3);
  CAF_CHECK_EQUAL(count("SELECT count(*) FROM postbox.limit_slots WHERE message_id IS NOT NULL "
                        "AND lease_until > now()"),
                  0);
}

CAF_TEST(rate 20 per second with burst 2 starts 200 in 10 s and throttled messages hold no slot) {
  auto a = node("a");
  auto b = node("b");
  auto c = node("c");
  send("rated", "", 400, 20);
  long long throttled_seen = 0, holding = 0;
  const auto until = std::chrono::steady_clock::now() + 12s;
  while (std::chrono::steady_clock::now() < until) {
    throttled_seen = std::max(
        throttled_seen, count("SELECT count(*) FROM postbox.mailbox WHERE limit_wait = 'rate'"));
    holding += throttled_holding();
    std::this_thread::sleep_for(50ms);
  }
  const auto in_10s = count(
      "SELECT count(*) FROM runs WHERE queue = 'rated' AND started_us < "
      "(SELECT min(started_us) FROM runs WHERE queue = 'rated') + 10000000");
  CAF_MESSAGE(in_10s << " started in the first 10 s; at most " << throttled_seen
                     << " waited for a token at once");
  CAF_CHECK_GREATER_OR_EQUAL(in_10s, 180);
  CAF_CHECK_LESS_OR_EQUAL(in_10s, 220);
  CAF_CHECK_GREATER(throttled_seen, 0);
  CAF_CHECK_EQUAL(holding, 0);
  CAF_CHECK_LESS_OR_EQUAL(max_overlap("rated"), 3);
}

CAF_TEST(a limit on one key does not delay another key) {
  auto a = node("a");
  auto b = node("b");
  send("keyed_lim", "slow", 20, 300);  // 6 s one at a time
  send("keyed_lim", "fast", 20, 20);
  CAF_REQUIRE(test::wait_until(
      [&] { return count("SELECT count(*) FROM runs WHERE key = 'fast'") == 20; }, 30s));
  const auto slow_done = count("SELECT count(*) FROM runs WHERE key = 'slow'");
  CAF_MESSAGE("fast done while " << slow_done << " of 20 slow were done");
  CAF_CHECK_LESS(slow_done, 12);
  CAF_REQUIRE(test::wait_until(
      [&] { return count("SELECT count(*) FROM runs WHERE key = 'slow'") == 20; }, 30s));
  CAF_CHECK_EQUAL(max_overlap("keyed_lim", "slow"), 1);
  CAF_CHECK_LESS_OR_EQUAL(max_overlap("keyed_lim", "fast"), 2);
  CAF_CHECK_GREATER_OR_EQUAL(max_overlap("keyed_lim"), 2);
}

CAF_TEST(a renewed lease keeps its slot) {
  auto a = node("a");
  auto b = node("b");
  // Longer than the 3 s lease: renewed, and the slot with it. Were it not, the second
  // would start once the first's slot lease ended, beside it.
  send("keyed_lim", "slow", 2, 4000);
  CAF_REQUIRE(test::wait_until(
      [&] { return count("SELECT count(*) FROM runs WHERE key = 'slow'") == 2; }, 30s));
  CAF_CHECK_EQUAL(max_overlap("keyed_lim", "slow"), 1);
  CAF_CHECK_EQUAL(count("SELECT count(*) FROM postbox.dead_letters"), 0);
}

CAF_TEST(limit_key from SQL and the CLI and the queues listing) {
  auto a = node("a");  // writes the topology's limits
  CAF_REQUIRE(
      test::wait_until([&] { return count("SELECT count(*) FROM postbox.limits") == 4; }, 20s));
  test::exec(dsn,
             "SELECT postbox.send('keyed_lim', 'work', '{\"key\": \"slow\", \"sleep_ms\": 0}', "
             "limit_key => 'slow')");
  auto sent =
      test::run_cli({"--dsn", dsn, "send", "--queue", "keyed_lim", "--type", "work", "--limit-key",
                     "fast", "--json-payload", R"({"key": "fast", "sleep_ms": 0})"});
  CAF_CHECK_EQUAL(sent.exit_code, 0);
  CAF_REQUIRE(test::wait_until(
      [&] { return count("SELECT count(*) FROM runs WHERE key IN ('slow', 'fast')") == 2; }, 20s));
  auto refused = test::run_cli({"--dsn", dsn, "send", "--queue", "keyed_lim", "--type", "work",
                                "--limit-key", std::string(300, 'x'), "--json-payload", "{}"});
  CAF_CHECK_NOT_EQUAL(refused.exit_code, 0);
  CAF_CHECK_NOT_EQUAL(refused.err.find("limit key"), std::string::npos);
  auto queues = test::run_cli({"--dsn", dsn, "queues"});
  CAF_CHECK_EQUAL(queues.exit_code, 0);
  CAF_MESSAGE(queues.out);
  CAF_CHECK_NOT_EQUAL(queues.out.find("SLOTS IN USE"), std::string::npos);
  CAF_CHECK_NOT_EQUAL(queues.out.find("key slow"), std::string::npos);
  CAF_CHECK_NOT_EQUAL(queues.out.find("20/s burst 2"), std::string::npos);
}

CAF_TEST(claims under one rate take other shards without waiting and stay within the rate) {
  // rate 50/s, burst 32: 8 shards of burst 4 (postbox.limit_shards). No node: the claims
  // are postbox.claim_limited itself, from several sessions.
  test::exec(dsn,
             "INSERT INTO postbox.limits (scope, key, rate, burst) VALUES "
             "('queue', 'sharded', 50, 32)");
  test::exec(dsn,
             "INSERT INTO postbox.mailbox (queue, type, execution_id, payload) SELECT 'sharded', "
             "'work', 'e-' || i, '{}' FROM generate_series(1, 3000) i");
  CAF_CHECK_EQUAL(count("SELECT count(*) FROM postbox.limit_tokens WHERE key = 'sharded'"), 8);
  const std::string claim =
      "SELECT * FROM postbox.claim_limited('sharded', 8, 30000, 'me', 'inc', NULL, 6000)";
  const auto start = std::chrono::steady_clock::now();
  // A claim holds its shards to its commit; another claim takes other shards meanwhile
  // (one row for the rate made it wait for that commit: here, time out).
  pqxx::connection holder_conn{dsn}, other_conn{dsn};
  pqxx::work holder{holder_conn};
  CAF_CHECK_EQUAL(holder.exec(claim).size(), 8u);
  {
    pqxx::work other{other_conn};
    other.exec("SET LOCAL statement_timeout = 3000");
    size_t got = 0;
    try {
      got = other.exec(claim).size();
    } catch (const std::exception& e) {
      CAF_FAIL("the second claim waited for the first: " << e.what());
    }
    CAF_CHECK_EQUAL(got, 8u);
    other.commit();
  }
  holder.commit();
  // Four sessions claiming as fast as they can for 2 s: at most rate * window + burst.
  std::vector<std::thread> claimers;
  std::atomic<int> failed{0};
  for (int t = 0; t < 4; ++t)
    claimers.emplace_back([&] {
      try {
        pqxx::connection c{dsn};
        const auto until = std::chrono::steady_clock::now() + 2s;
        while (std::chrono::steady_clock::now() < until) {
          pqxx::work w{c};
          w.exec(claim);
          w.commit();
        }
      } catch (const std::exception&) {
        ++failed;
      }
    });
  for (auto& t : claimers) t.join();
  CAF_CHECK_EQUAL(failed.load(), 0);
  const double window =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  const auto claimed =
      count("SELECT count(*) FROM postbox.mailbox WHERE queue = 'sharded' AND receipt IS NOT NULL");
  CAF_MESSAGE(claimed << " claimed in " << window << " s at 50/s burst 32");
  CAF_CHECK_LESS_OR_EQUAL(claimed, static_cast<long long>(50 * window + 32));
  CAF_CHECK_GREATER_OR_EQUAL(claimed, static_cast<long long>(50 * (window - 0.5) + 32 * 0.8));
}

CAF_TEST_FIXTURE_SCOPE_END()

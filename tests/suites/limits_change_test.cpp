// Cluster-wide limits while a topology change rolls out (guarantee 13: never more than
// max_in_flight running; migration 028), on real node processes
// (tests/actors_node/limits_main.cpp, type work: a run records its start and end in
// `runs`). Nodes started with different topologies in turn, as in a rolling restart:
// the last one started writes the limits. Node b's DSN is a URI, the others' key=value.
#define CAF_SUITE limits_change
#include <caf/test/unit_test.hpp>
#include <csignal>
#include <pqxx/pqxx>

#include "persistence/mailbox_store.hpp"
#include "support/node_process.hpp"
#include "support/pg_fixture.hpp"

using namespace postbox;
using namespace std::chrono_literals;

namespace {

struct fixture {
  std::string dsn = test::create_migrated_database("limits_change");
  std::string dir = test::make_temp_dir("limits_change");

  fixture() {
    test::exec(dsn,
               "CREATE TABLE runs (message_id bigint, queue text, key text, owner text, "
               "started_us bigint, ended_us bigint)");
  }

  /// A topology whose queue `chg` has `limit` (e.g. "max_in_flight: 6, " or ""); nodes
  /// a, b and y serve chg, node x only `other`.
  std::string topology(const std::string& file, const std::string& limit) {
    return test::write_file(dir + "/" + file, R"(cluster: limits_change
database: { dsn: "${POSTBOX_DSN}" }
drain_timeout: 5s
queues:
  chg: { )" + limit + R"(visibility_timeout: 2s, claim_batch: 4, poll_interval: 50ms }
  other: { visibility_timeout: 2s, poll_interval: 100ms }
nodes:
  a:
    actors:
      - { queue: chg, concurrency: 8 }
  b:
    actors:
      - { queue: chg, concurrency: 8 }
  x:
    actors:
      - { queue: other, concurrency: 1 }
  y:
    actors:
      - { queue: chg, concurrency: 8 }
)");
  }

  std::unique_ptr<test::node_process> node(const std::string& topo, const std::string& name) {
    auto form = name == "b" ? test::as_uri(dsn) : test::as_key_value(dsn);
    auto n = std::make_unique<test::node_process>(topo, name, form);
    n->use_binary("postbox-test-limits");
    CAF_REQUIRE(n->start());
    return n;
  }

  long long count(const std::string& sql) { return test::count(dsn, sql); }

  /// `sleeps.size()` work items to chg, one per sleep (ms), in this order.
  void send(const std::vector<int>& sleeps) {
    pg_session s{session_options{dsn, "limits-change-sender"}};
    mailbox_store mailbox{s};
    std::vector<outgoing_message> batch;
    for (int ms : sleeps) {
      outgoing_message m;
      m.queue = "chg";
      m.type = "work";
      m.payload = R"({"key": "", "sleep_ms": )" + std::to_string(ms) + "}";
      batch.push_back(std::move(m));
    }
    CAF_REQUIRE(mailbox.send_batch(batch));
  }

  long long live_slots() {
    return count(
        "SELECT count(*) FROM postbox.limit_slots WHERE key = 'chg' AND message_id IS NOT NULL "
        "AND lease_until > now()");
  }
  long long limit_max() {
    return count("SELECT COALESCE(max(max_in_flight), 0) FROM postbox.limits WHERE key = 'chg'");
  }
  /// The system clock in microseconds (the runs' clock: same machine).
  long long now_us() {
    return count("SELECT (extract(epoch FROM clock_timestamp()) * 1e6)::bigint");
  }

  /// The most runs running at the start of a run that started after `after_us`
  /// (itself included), over every run.
  long long overlap_at_starts_after(long long after_us) {
    return count(
        "SELECT COALESCE(max(c), 0) FROM (SELECT r1.message_id, count(*) AS c FROM runs r1 "
        "JOIN runs r2 ON r2.started_us <= r1.started_us AND r2.ended_us > r1.started_us "
        "WHERE r1.started_us > " +
        std::to_string(after_us) + " GROUP BY r1.message_id) t");
  }
  /// Waits for `runs` runs and an empty mailbox; the most deliveries of chg leased at
  /// once meanwhile (a run is recorded with its ack: one whose lease was lost, its slot
  /// taken, is not, so the runs alone would not show it).
  long long wait_all_done(long long runs) {
    long long most_leased = 0;
    CAF_REQUIRE(test::wait_until(
        [&] {
          most_leased = std::max(most_leased,
                                 count("SELECT count(*) FROM postbox.mailbox WHERE queue = 'chg' "
                                       "AND receipt IS NOT NULL AND visible_at > now()"));
          return count("SELECT count(*) FROM runs") == runs &&
                 count("SELECT count(*) FROM postbox.mailbox") == 0;
        },
        60s, 20ms));
    return most_leased;
  }
};

}  // namespace

CAF_TEST_FIXTURE_SCOPE(limits_change_tests, fixture)

// Guaranteed: once the lowered limit is written (node b's start), a claim admits a
// message only while fewer than 2 deliveries hold slots of the limit, those above the
// new max included: every run that starts after the change starts with at most 2
// running, itself included. The 6 already running finish undisturbed (nothing stops
// them): until they are down to 1, nothing new starts.
CAF_TEST(lowering max_in_flight from 6 to 2 while 6 run admits nothing until fewer than 2 run) {
  auto a = node(topology("six.yaml", "max_in_flight: 6, "), "a");
  // Slots 1 and 2 (the first two claimed) are held by the shortest runs: their slots
  // free first while the four above the new max still run.
  send({2500, 2800, 4000, 4300, 4600, 4900});
  CAF_REQUIRE(test::wait_until([&] { return live_slots() == 6; }, 30s));
  auto b = node(topology("two.yaml", "max_in_flight: 2, "), "b");
  CAF_REQUIRE(test::wait_until([&] { return limit_max() == 2; }, 30s));
  const auto changed = now_us();
  CAF_REQUIRE_EQUAL(count("SELECT count(*) FROM runs"), 0);  // all six still run
  send(std::vector<int>(12, 200));
  const auto most_leased = wait_all_done(18);
  const auto after = overlap_at_starts_after(changed);
  CAF_MESSAGE("largest overlap at a start after the change "
              << after << " (before it: " << overlap_at_starts_after(0) << "), most leased "
              << most_leased);
  CAF_CHECK_EQUAL(count("SELECT count(*) FROM runs WHERE started_us > " + std::to_string(changed)),
                  12);
  CAF_CHECK_LESS_OR_EQUAL(after, 2);
  CAF_CHECK_EQUAL(overlap_at_starts_after(0), 6);  // the six did run at once
  CAF_CHECK_EQUAL(count("SELECT count(*) FROM postbox.dead_letters"), 0);
  CAF_CHECK_EQUAL(live_slots(), 0);
}

// A node started without the limit removes it (it stops limiting at once), but the
// slots its holders still hold are kept: the next node started with the limit again
// (a rolling restart) sees them held and admits nothing beside them.
CAF_TEST(a limit removed and added again while its slots are held still counts their holders) {
  const auto with = topology("with.yaml", "max_in_flight: 3, ");
  auto a = node(with, "a");
  send({8000, 8000, 8000});
  CAF_REQUIRE(test::wait_until([&] { return live_slots() == 3; }, 30s));
  auto x = node(topology("without.yaml", ""), "x");
  CAF_REQUIRE(test::wait_until([&] { return limit_max() == 0; }, 30s));
  // Removed: it limits nothing, and its held slots are remembered.
  CAF_CHECK_EQUAL(live_slots(), 3);
  auto y = node(with, "y");
  CAF_REQUIRE(test::wait_until([&] { return limit_max() == 3; }, 30s));
  const auto readded = now_us();
  CAF_REQUIRE_EQUAL(count("SELECT count(*) FROM runs"), 0);  // the three still run
  CAF_CHECK_EQUAL(live_slots(), 3);  // added again: its three holders hold their slots
  send(std::vector<int>(9, 200));
  const auto most_leased = wait_all_done(12);
  const auto overlap = overlap_at_starts_after(0);
  CAF_MESSAGE("largest overlap " << overlap << ", most leased " << most_leased);
  CAF_CHECK_LESS_OR_EQUAL(most_leased, 3);
  CAF_CHECK_LESS_OR_EQUAL(overlap, 3);
  CAF_CHECK_LESS_OR_EQUAL(overlap_at_starts_after(readded), 3);
  // The three first deliveries kept their leases (with their slots) to their acks.
  CAF_CHECK_EQUAL(count("SELECT count(*) FROM runs WHERE started_us < " + std::to_string(readded)),
                  3);
  CAF_CHECK_EQUAL(count("SELECT count(*) FROM postbox.dead_letters"), 0);
  // Removed again (x restarted), then, drained, deleted at the start after that.
  for (int i = 0; i < 2; ++i) {
    x->signal(SIGTERM);
    CAF_CHECK_EQUAL(x->wait_exit(20s), 0);
    x = node(topology("without.yaml", ""), "x");
    CAF_REQUIRE(test::wait_until([&] { return limit_max() == 0; }, 30s));
  }
  CAF_CHECK(test::wait_until(
      [&] { return count("SELECT count(*) FROM postbox.limits WHERE key = 'chg'") == 0; }, 30s));
  CAF_CHECK_EQUAL(count("SELECT count(*) FROM postbox.limit_slots WHERE key = 'chg'"), 0);
}

CAF_TEST_FIXTURE_SCOPE_END()

// Where the send options of issue 23 meet (dedup keys, priorities, limit keys, cron):
// one send carrying all three from SQL and from the store, a batch mixing them, a dead
// letter that keeps them for its retry, the limited claim taking the highest tier first,
// and a schedule's tick holding the dedup key `name@tick`.
#define CAF_SUITE send_options
#include <caf/test/unit_test.hpp>
#include <pqxx/pqxx>

#include "config/topology.hpp"
#include "persistence/inspect_store.hpp"
#include "persistence/limit_store.hpp"
#include "persistence/mailbox_store.hpp"
#include "support/node_process.hpp"
#include "support/pg_fixture.hpp"

using namespace postbox;
using namespace std::chrono_literals;

namespace {

struct fixture {
  std::string dsn = test::create_migrated_database("send_options");
  pg_session session{{dsn, "send-options-test"}};
  mailbox_store mailbox{session};

  long long count(const std::string& sql) { return test::count(dsn, sql); }
  std::string text(const std::string& sql) { return test::scalar(dsn, sql); }
  /// Whether the database refuses `sql` (an error, nothing committed).
  bool refused(const std::string& sql) {
    try {
      test::exec(dsn, sql);
    } catch (const std::exception&) {
      return true;
    }
    return false;
  }

  static outgoing_message msg(const std::string& queue, int n) {
    outgoing_message m;
    m.queue = queue;
    m.type = "job";
    m.payload = R"({"n":)" + std::to_string(n) + "}";
    return m;
  }
};

}  // namespace

CAF_TEST_FIXTURE_SCOPE(send_options_tests, fixture)

CAF_TEST(one sql send carries a dedup key a priority and a limit key and its duplicate enqueues
             nothing) {
  const std::string send =
      "SELECT id || ',' || duplicate FROM postbox.send_dedup('api', 'call', "
      "'{}', dedup_key => 'k1', priority => 'urgent', limit_key => 'openai')";
  const auto first = text(send);
  CAF_CHECK_EQUAL(first.substr(first.find(',') + 1), "false");
  const auto id = first.substr(0, first.find(','));
  CAF_CHECK_EQUAL(text("SELECT dedup_key || '/' || priority || '/' || limit_key FROM "
                       "postbox.mailbox WHERE id = " +
                       id),
                  "k1/3/openai");
  // The duplicate (another tier, another limit key) names the live message and changes it
  // not: until_done keeps what the first send stored.
  const auto second = text(
      "SELECT id || ',' || duplicate FROM postbox.send_dedup('api', 'call', "
      "'{}', dedup_key => 'k1', priority => 'low', limit_key => 'other')");
  CAF_CHECK_EQUAL(second, id + ",true");
  CAF_CHECK_EQUAL(count("SELECT count(*) FROM postbox.mailbox"), 1);
  CAF_CHECK_EQUAL(text("SELECT priority || '/' || limit_key FROM postbox.mailbox"), "3/openai");
  // postbox.send (bigint) takes the same options.
  CAF_CHECK_EQUAL(text("SELECT postbox.send('api', 'call', '{}', dedup_key => 'k1', "
                       "priority => 'high', limit_key => 'openai')"),
                  id);
  // A bad tier is refused before anything is written, with or without a key.
  CAF_CHECK(
      refused("SELECT postbox.send('api', 'call', '{}', dedup_key => "
              "'k2', priority => 'hgh')"));
  CAF_CHECK_EQUAL(count("SELECT count(*) FROM postbox.mailbox"), 1);
}

CAF_TEST(the store sends a batch mixing dedup keys tiers and limit keys) {
  std::vector<outgoing_message> batch;
  for (int i = 0; i < 6; ++i) {
    auto m = msg("mixed", i);
    m.dedup_key = i % 2 == 0 ? "even" : "";  // 0, 2, 4: one key
    m.priority = i < 3 ? priority::high : priority::low;
    m.limit_key = "tenant-" + std::to_string(i % 3);
    batch.push_back(m);
  }
  auto sent = session.transact_value<std::vector<send_result>>(
      retry_policy::never,
      [&](tx_context& tx) { return mailbox_store::send_batch_unique(tx, batch); });
  CAF_REQUIRE(sent);
  CAF_REQUIRE_EQUAL(sent->size(), 6u);
  CAF_CHECK(!(*sent)[0].duplicate);
  CAF_CHECK((*sent)[2].duplicate);
  CAF_CHECK((*sent)[4].duplicate);
  CAF_CHECK_EQUAL((*sent)[2].id, (*sent)[0].id);
  CAF_CHECK_EQUAL(count("SELECT count(*) FROM postbox.mailbox WHERE queue = 'mixed'"), 4);
  // Each row kept its own tier and limit key: the first of the key (high, tenant-0), the
  // odd ones as sent.
  CAF_CHECK_EQUAL(text("SELECT string_agg(priority || ':' || limit_key, ',' ORDER BY id) "
                       "FROM postbox.mailbox WHERE queue = 'mixed'"),
                  "2:tenant-0,2:tenant-1,0:tenant-0,0:tenant-2");
}

CAF_TEST(a dead letter keeps its tier limit key and dedup key for its retry) {
  auto m = msg("dl", 1);
  m.dedup_key = "once";
  m.priority = priority::urgent;
  m.limit_key = "openai";
  auto sent = mailbox.send_unique(m);
  CAF_REQUIRE(sent);
  auto got = mailbox.read("dl", 1, 60s, "reader");
  CAF_REQUIRE(got && got->size() == 1);
  CAF_REQUIRE(mailbox.dead_letter(lease{got->front().id, got->front().receipt}, "poisoned"));
  CAF_CHECK_EQUAL(count("SELECT count(*) FROM postbox.mailbox"), 0);
  CAF_CHECK_EQUAL(text("SELECT priority || '/' || limit_key || '/' || dedup_key FROM "
                       "postbox.dead_letters"),
                  "3/openai/once");
  // While another live message holds the key, the retry is refused and sends nothing.
  auto holder = mailbox.send_unique(m);
  CAF_REQUIRE(holder && !holder->duplicate);
  inspect_store inspect{session};
  const auto dl = std::stoll(text("SELECT id FROM postbox.dead_letters"));
  CAF_CHECK(!inspect.dead_letter_retry(dl));
  CAF_CHECK_EQUAL(count("SELECT count(*) FROM postbox.mailbox"), 1);
  // Released (acked), the retry runs at the dead letter's tier with its limit key.
  auto h = mailbox.read("dl", 1, 60s, "reader");
  CAF_REQUIRE(h && h->size() == 1);
  CAF_REQUIRE(!mailbox.ack(lease{h->front().id, h->front().receipt}));
  auto again = inspect.dead_letter_retry(dl);
  CAF_REQUIRE(again);
  CAF_CHECK_EQUAL(text("SELECT priority || '/' || limit_key || '/' || dedup_key FROM "
                       "postbox.mailbox WHERE id = " +
                       std::to_string(*again)),
                  "3/openai/once");
}

CAF_TEST(the limited claim takes the highest tier first) {
  auto topo = load_topology_string(
      "database: {dsn: 'dbname=x'}\n"
      "nodes: {a: {actors: [{queue: limited, concurrency: 2}]}}\n"
      "queues:\n  limited: {max_in_flight: 2, rate: 1000/s, burst: 100}\n",
      "send_options.yaml");
  CAF_REQUIRE(topo);
  limit_store limits{session};
  CAF_REQUIRE(!limits.sync(*topo));
  std::vector<outgoing_message> batch;
  for (int i = 0; i < 6; ++i) {
    auto m = msg("limited", i);
    m.priority = i < 4 ? priority::low : priority::urgent;  // the urgent ones last
    batch.push_back(m);
  }
  CAF_REQUIRE(mailbox.send_batch(batch));
  auto got = mailbox.read("limited", 4, 60s, "reader", {}, nullptr, nullptr, 6s, true);
  CAF_REQUIRE(got);
  // Two slots: the two urgent ones, though sent last; the rest wait for a slot.
  CAF_REQUIRE_EQUAL(got->size(), 2u);
  for (const auto& d : *got)
    CAF_CHECK_EQUAL(
        count("SELECT priority FROM postbox.mailbox WHERE id = " + std::to_string(d.id)), 3);
  CAF_CHECK_EQUAL(count("SELECT count(*) FROM postbox.limit_slots WHERE message_id IS NOT NULL"),
                  2);
}

CAF_TEST(a schedule tick holds the dedup key name at tick and its target tier) {
  test::exec(dsn,
             "SELECT postbox.schedule('nightly', '0 3 * * *', "
             "'{\"queue\": \"reports\", \"type\": \"report\", \"priority\": \"high\"}')");
  // Fire one tick by hand, as a node does with the row locked.
  test::exec(dsn,
             "SELECT postbox.schedule_fire_tick('nightly', '2026-12-08 03:00:00+00', 0, "
             "false, 'sent')");
  CAF_CHECK_EQUAL(text("SELECT dedup_key || '/' || priority FROM postbox.mailbox"),
                  "nightly@2026-12-08T03:00:00.000Z/2");
  CAF_CHECK_EQUAL(count("SELECT count(*) FROM postbox.schedule_ticks WHERE name = 'nightly'"), 1);
  // The same tick again (a second firer past every other guard) enqueues nothing more.
  CAF_CHECK(
      refused("SELECT postbox.schedule_fire_tick('nightly', "
              "'2026-12-08 03:00:00+00', 0, false, 'sent')"));
  CAF_CHECK_EQUAL(count("SELECT count(*) FROM postbox.mailbox"), 1);
}

CAF_TEST(a late renewal of a message whose slot another claim took is a lost lease) {
  auto topo = load_topology_string(
      "database: {dsn: 'dbname=x'}\n"
      "nodes: {a: {actors: [{queue: one, concurrency: 2}]}}\n"
      "queues:\n  one: {max_in_flight: 1}\n",
      "send_options.yaml");
  CAF_REQUIRE(topo);
  limit_store limits{session};
  CAF_REQUIRE(!limits.sync(*topo));
  CAF_REQUIRE(mailbox.send(msg("one", 1)));
  auto a = mailbox.read("one", 1, 300ms, "node-a", {}, nullptr, nullptr, 6s, true);
  CAF_REQUIRE(a && a->size() == 1);
  // B, urgent, waits for the slot; once A's lease (and so its slot's) ends, B is claimed
  // into the only slot (the limited claim takes the highest tier first), and A is not.
  auto urgent = msg("one", 2);
  urgent.priority = priority::urgent;
  CAF_REQUIRE(mailbox.send(urgent));
  std::vector<delivery> b;
  CAF_REQUIRE(test::wait_until(
      [&] {
        auto got = mailbox.read("one", 1, 60s, "node-b", {}, nullptr, nullptr, 6s, true);
        if (got && !got->empty() && got->front().id != a->front().id) b = *got;
        return !b.empty();
      },
      10s, 50ms));
  // A's worker renews late: refused, whether alone or among others.
  const lease la{a->front().id, a->front().receipt};
  auto err = mailbox.renew_lease(la, 60s);
  CAF_CHECK(err && err.code() == static_cast<uint8_t>(errc::lease_lost));
  auto lost = mailbox.renew_leases({la, lease{b.front().id, b.front().receipt}}, 60s);
  CAF_REQUIRE(lost);
  CAF_CHECK_EQUAL(lost->size(), 1u);
  CAF_CHECK_EQUAL(count("SELECT count(*) FROM postbox.limit_slots WHERE message_id IS NOT NULL "
                        "AND lease_until > now()"),
                  1);
}

CAF_TEST(a topology schedule is neither replaced nor removed from sql) {
  test::exec(dsn,
             "INSERT INTO postbox.schedules (name, cron, target, defined_by) VALUES "
             "('nightly', '0 3 * * *', '{\"queue\": \"reports\", \"type\": \"report\"}', "
             "'topology')");
  CAF_CHECK(
      refused("SELECT postbox.schedule('nightly', '* * * * *', "
              "'{\"queue\": \"other\", \"type\": \"x\"}')"));
  CAF_CHECK(refused("SELECT postbox.unschedule('nightly')"));
  CAF_CHECK_EQUAL(text("SELECT cron || '/' || defined_by || '/' || (target->>'queue') FROM "
                       "postbox.schedules WHERE name = 'nightly'"),
                  "0 3 * * */topology/reports");
}

CAF_TEST(a key of a schedule tick 's form is refused on every path but the tick' s own) {
  const std::string tick_key = "nightly@2026-12-08T03:00:00.000Z";
  // SQL API: refused, nothing enqueued; the words name the reservation.
  std::string why;
  try {
    test::exec(dsn,
               "SELECT postbox.send('reports', 'report', '{}', dedup_key => '" + tick_key + "')");
  } catch (const std::exception& e) {
    why = e.what();
  }
  CAF_CHECK(why.find("reserved for schedule ticks") != std::string::npos);
  // The store (a node's send, a batch, a fan_out's children): refused by the database.
  auto m = msg("reports", 1);
  m.dedup_key = tick_key;
  CAF_CHECK(!mailbox.send_unique(m));
  CAF_CHECK(!mailbox.send_batch(std::vector<outgoing_message>{msg("reports", 2), m}));
  CAF_CHECK_EQUAL(count("SELECT count(*) FROM postbox.mailbox"), 0);
  // The runtime's early checks use the same form.
  CAF_CHECK(is_tick_dedup_key(tick_key));
  CAF_CHECK(!is_tick_dedup_key("nightly@2026-12-08"));
  CAF_CHECK(!is_tick_dedup_key("invoice@42"));
  CAF_CHECK(!is_tick_dedup_key("@2026-12-08T03:00:00.000Z"));
  // A key that only looks alike is a user's key as before.
  CAF_CHECK(
      !refused("SELECT postbox.send('reports', 'report', '{}', dedup_key => "
               "'nightly@2026-12-08T03:00:00Z')"));
  CAF_CHECK_EQUAL(count("SELECT count(*) FROM postbox.mailbox"), 1);
  // The tick itself takes its key; so does the retry of its dead letter.
  test::exec(dsn,
             "SELECT postbox.schedule('nightly', '0 3 * * *', "
             "'{\"queue\": \"reports\", \"type\": \"report\"}')");
  test::exec(dsn,
             "SELECT postbox.schedule_fire_tick('nightly', '2026-12-08 03:00:00+00', 0, "
             "false, 'sent')");
  CAF_CHECK_EQUAL(
      count("SELECT count(*) FROM postbox.mailbox WHERE dedup_key = '" + tick_key + "'"), 1);
  std::vector<delivery> got;
  CAF_REQUIRE(test::wait_until(
      [&] {
        auto r = mailbox.read("reports", 10, 60s, "reader");
        if (!r) return false;
        for (const auto& d : *r)
          if (d.type == "report" && d.headers.find("nightly") != std::string::npos)
            got.push_back(d);
          else
            (void)mailbox.ack(d.to_lease());
        return !got.empty();
      },
      5s, 20ms));
  CAF_REQUIRE(mailbox.dead_letter(got.front().to_lease(), "poisoned"));
  inspect_store inspect{session};
  auto again = inspect.dead_letter_retry(std::stoll(text("SELECT id FROM postbox.dead_letters")));
  CAF_REQUIRE(again);
  CAF_CHECK_EQUAL(
      text("SELECT dedup_key FROM postbox.mailbox WHERE id = " + std::to_string(*again)), tick_key);
}

CAF_TEST_FIXTURE_SCOPE_END()

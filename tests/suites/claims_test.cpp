// Orchestration claims on PostgreSQL: one winner, tombstones, release, fencing.
#define CAF_SUITE claims
#include <atomic>
#include <caf/test/unit_test.hpp>
#include <future>
#include <thread>

#include "persistence/claims_store.hpp"
#include "support/pg_fixture.hpp"
#include "support/values.hpp"

using namespace postbox;
using postbox::test::value_of;
using namespace std::chrono_literals;

namespace {

struct fixture {
  std::string dsn = test::create_migrated_database("claims");
  pg_session session{{dsn, "claims-test"}};
  claims_store claims{session};
};

}  // namespace

CAF_TEST_FIXTURE_SCOPE(claims_tests, fixture)

CAF_TEST(two concurrent claims have one winner) {
  for (int round = 0; round < 20; ++round) {
    auto id = "e-" + std::to_string(round);
    std::promise<void> go;
    auto start = go.get_future().share();
    auto contender = [&](int64_t message_id) {
      pg_session s{{dsn, "contender"}};
      claims_store cs{s};
      if (s.connect()) return claim_outcome::held;
      start.wait();
      auto r = cs.try_claim(id, "node-" + std::to_string(message_id), lease{message_id, 1});
      return r ? *r : claim_outcome::tombstoned;
    };
    auto a = std::async(std::launch::async, contender, 100);
    auto b = std::async(std::launch::async, contender, 200);
    go.set_value();
    auto ra = a.get(), rb = b.get();
    CAF_CHECK_EQUAL((ra == claim_outcome::won) + (rb == claim_outcome::won), 1);
    CAF_CHECK_EQUAL((ra == claim_outcome::held) + (rb == claim_outcome::held), 1);
  }
  CAF_CHECK_EQUAL(test::count(dsn, "SELECT count(*) FROM postbox.claims WHERE state = 'active'"),
                  20);
}

CAF_TEST(a tombstone blocks every claim) {
  CAF_REQUIRE(!claims.tombstone("done", "node-a"));
  CAF_CHECK_EQUAL(value_of(claims.try_claim("done", "node-b", lease{1, 1})),
                  claim_outcome::tombstoned);
  CAF_REQUIRE_EQUAL(value_of(claims.try_claim("active", "node-a", lease{2, 1})),
                    claim_outcome::won);
  CAF_REQUIRE(!claims.tombstone("active", "node-a"));  // an active claim becomes a tombstone
  CAF_CHECK_EQUAL(value_of(claims.try_claim("active", "node-a", lease{2, 2})),
                  claim_outcome::tombstoned);
}

CAF_TEST(release allows a new claim and is idempotent) {
  lease first{10, 1};
  CAF_REQUIRE_EQUAL(value_of(claims.try_claim("e", "node-a", first)), claim_outcome::won);
  CAF_CHECK_EQUAL(value_of(claims.try_claim("e", "node-b", lease{11, 1})), claim_outcome::held);
  CAF_CHECK(!claims.release("e", first));
  CAF_CHECK(!claims.release("e", first));
  CAF_CHECK_EQUAL(value_of(claims.try_claim("e", "node-b", lease{11, 1})), claim_outcome::won);
  CAF_CHECK(!claims.release("e", first));  // no longer the holder: changes nothing
  CAF_CHECK_EQUAL(test::scalar(dsn, "SELECT owner FROM postbox.claims WHERE execution_id = 'e'"),
                  "node-b");
}

CAF_TEST(a newer delivery of the same message takes the claim over) {
  CAF_REQUIRE_EQUAL(value_of(claims.try_claim("e", "frozen", lease{5, 1})), claim_outcome::won);
  CAF_CHECK_EQUAL(value_of(claims.try_claim("e", "frozen", lease{5, 1})),
                  claim_outcome::won);  // retry
  CAF_CHECK_EQUAL(value_of(claims.try_claim("e", "fresh", lease{5, 9})), claim_outcome::won);
  // The thawed holder's older receipt loses now, and cannot release the new claim.
  CAF_CHECK_EQUAL(value_of(claims.try_claim("e", "frozen", lease{5, 1})), claim_outcome::held);
  CAF_CHECK(!claims.release("e", lease{5, 1}));
  CAF_CHECK_EQUAL(test::scalar(dsn, "SELECT owner || ':' || receipt FROM postbox.claims"),
                  "fresh:9");
}

CAF_TEST(find stale returns old active claims only) {
  CAF_REQUIRE_EQUAL(value_of(claims.try_claim("old", "a", lease{1, 1})), claim_outcome::won);
  CAF_REQUIRE_EQUAL(value_of(claims.try_claim("new", "a", lease{2, 1})), claim_outcome::won);
  CAF_REQUIRE(!claims.tombstone("dead", "a"));
  test::exec(dsn,
             "UPDATE postbox.claims SET updated_at = now() - interval '1 hour' "
             "WHERE execution_id IN ('old', 'dead')");
  auto stale = claims.find_stale(10min);
  CAF_REQUIRE(stale);
  CAF_REQUIRE_EQUAL(stale->size(), 1u);
  CAF_CHECK_EQUAL(stale->front().execution_id, "old");
  CAF_CHECK_EQUAL(stale->front().message_id, 1);
}

CAF_TEST_FIXTURE_SCOPE_END()

// The fan-in barrier and the batch-completion unit of work on PostgreSQL.
#define CAF_SUITE barrier
#include <algorithm>
#include <atomic>
#include <caf/test/unit_test.hpp>
#include <random>
#include <thread>

#include "persistence/barrier_store.hpp"
#include "persistence/units_of_work.hpp"
#include "support/pg_fixture.hpp"
#include "support/values.hpp"

using namespace postbox;
using postbox::test::value_of;
using namespace std::chrono_literals;

namespace {

struct fixture {
  std::string dsn = test::create_migrated_database("barrier");
  pg_session session{{dsn, "barrier-test"}};
  barrier_store barriers{session};
};

}  // namespace

CAF_TEST_FIXTURE_SCOPE(barrier_tests, fixture)

CAF_TEST(fifty batches twice from sixteen threads fire exactly once) {
  constexpr int batches = 50;
  CAF_REQUIRE(!barriers.arm("e-1", batches));
  std::vector<int> work;
  for (int b = 0; b < batches; ++b) {
    work.push_back(b);
    work.push_back(b);
  }
  std::shuffle(work.begin(), work.end(), std::mt19937{42});
  std::atomic<size_t> next{0};
  std::atomic<int> fired{0}, counted{0}, negative{0}, errors{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 16; ++t) {
    threads.emplace_back([&, t] {
      pg_session s{{dsn, "arrive-" + std::to_string(t)}};
      barrier_store bs{s};
      for (size_t i = next++; i < work.size(); i = next++) {
        auto a = bs.arrive("e-1", work[i]);
        if (!a) {
          ++errors;
          continue;
        }
        fired += a->fired ? 1 : 0;
        counted += a->counted ? 1 : 0;
        negative += a->remaining < 0 ? 1 : 0;
      }
    });
  }
  for (auto& t : threads) t.join();
  CAF_CHECK_EQUAL(errors.load(), 0);
  CAF_CHECK_EQUAL(fired.load(), 1);
  CAF_CHECK_EQUAL(counted.load(), batches);
  CAF_CHECK_EQUAL(negative.load(), 0);
  auto st = barriers.get("e-1");
  CAF_REQUIRE(st);
  CAF_CHECK_EQUAL(st->remaining, 0);
  CAF_CHECK(st->fired);
  CAF_CHECK_EQUAL(test::count(dsn, "SELECT count(*) FROM postbox.barrier_arrivals"), batches);
}

CAF_TEST(a batch of one fires on its only arrival) {
  CAF_REQUIRE(!barriers.arm("single", 1));
  auto a = barriers.arrive("single", 0);
  CAF_REQUIRE(a);
  CAF_CHECK(a->fired);
  CAF_CHECK(!value_of(barriers.arrive("single", 0)).fired);
}

CAF_TEST(bad arrivals are typed errors) {
  CAF_CHECK(is(barriers.arrive("nobody", 0).error(), errc::not_found));
  CAF_REQUIRE(!barriers.arm("e-2", 3));
  // A group id is armed once: arming it again (any size) is refused, naming it.
  auto again = barriers.arm("e-2", 3);
  CAF_CHECK(is(again, errc::constraint_violation));
  CAF_CHECK(describe(again).find("'e-2' is already in use") != std::string::npos);
  CAF_CHECK(is(barriers.arm("e-2", 4), errc::constraint_violation));
  CAF_CHECK(is(barriers.arrive("e-2", 3).error(), errc::invalid_argument));
  CAF_CHECK(is(barriers.arrive("e-2", -1).error(), errc::invalid_argument));
  CAF_CHECK_EQUAL(value_of(barriers.get("e-2")).remaining, 3);
}

CAF_TEST(complete batch acks arrives and enqueues the callback in one transaction) {
  mailbox_store mailbox{session};
  CAF_REQUIRE(!barriers.arm("e-3", 3));
  std::vector<outgoing_message> batches;
  for (int i = 0; i < 3; ++i)
    batches.push_back({"file_batch", "process_file_batch", "e-3", "org", "{}", "{}", 0ms});
  CAF_REQUIRE(mailbox.send_batch(batches));
  auto got = mailbox.read("file_batch", 10, 30s, "w");
  CAF_REQUIRE_EQUAL(got->size(), 3u);
  outgoing_message callback{
      "callback", "execution_callback", "e-3", "org", R"({"execution_id":"e-3"})", "{}", 0ms};
  int fires = 0;
  for (int i = 0; i < 3; ++i) {
    auto done = complete_batch(session, (*got)[i].to_lease(), "e-3", i, callback);
    CAF_REQUIRE(done);
    CAF_CHECK_EQUAL(done->barrier.remaining, 2 - i);
    if (done->barrier.fired) {
      ++fires;
      CAF_CHECK_NOT_EQUAL(done->callback_message_id, 0);
    }
  }
  CAF_CHECK_EQUAL(fires, 1);
  CAF_CHECK_EQUAL(value_of(mailbox.depth("file_batch")), 0);
  CAF_CHECK_EQUAL(value_of(mailbox.depth("callback")), 1);
  // A redelivered batch holding a stale receipt changes nothing at all.
  auto again = complete_batch(session, (*got)[2].to_lease(), "e-3", 2, callback);
  CAF_CHECK(is(again.error(), errc::lease_lost));
  CAF_CHECK_EQUAL(value_of(mailbox.depth("callback")), 1);
}

CAF_TEST(a lost lease rolls back the arrival) {
  mailbox_store mailbox{session};
  CAF_REQUIRE(!barriers.arm("e-4", 2));
  CAF_REQUIRE(mailbox.send({"file_batch", "process_file_batch", "e-4", "", "{}", "{}", 0ms}));
  auto got = mailbox.read("file_batch", 1, 30s, "w");
  CAF_REQUIRE_EQUAL(got->size(), 1u);
  auto stale = got->front().to_lease();
  stale.receipt -= 1;
  outgoing_message callback{"callback", "execution_callback", "e-4", "", "{}", "{}", 0ms};
  CAF_CHECK(is(complete_batch(session, stale, "e-4", 0, callback).error(), errc::lease_lost));
  CAF_CHECK_EQUAL(value_of(barriers.get("e-4")).remaining, 2);
  CAF_CHECK_EQUAL(test::count(dsn, "SELECT count(*) FROM postbox.barrier_arrivals"), 0);
  CAF_CHECK_EQUAL(value_of(mailbox.depth("file_batch")), 1);
}

CAF_TEST_FIXTURE_SCOPE_END()

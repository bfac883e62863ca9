// Executions (create, CAS transitions, counts) and the outbox (unique per
// execution and kind, fenced delivery, failure after max attempts).
#define CAF_SUITE stores
#include <atomic>
#include <caf/test/unit_test.hpp>
#include <thread>

#include "persistence/detail/tx_context.hpp"
#include "persistence/execution_store.hpp"
#include "persistence/outbox_store.hpp"
#include "support/pg_fixture.hpp"
#include "support/values.hpp"

using namespace postbox;
using postbox::test::value_of;
using namespace std::chrono_literals;

namespace {

struct fixture {
  std::string dsn = test::create_migrated_database("stores");
  pg_session session{{dsn, "stores-test"}};
  execution_store executions{session};
  outbox_store outbox{session};
};

}  // namespace

CAF_TEST_FIXTURE_SCOPE(store_tests, fixture)

CAF_TEST(a session runs without jit whatever the server says) {
  // A generic plan of the claim over a large backlog was JIT-compiled on every run
  // (~200 ms a claim; make bench-actors). The server's default here is on.
  CAF_REQUIRE_EQUAL(test::scalar(dsn, "SHOW jit"), "on");
  std::string jit;
  auto err = session.transact(retry_policy::once, [&](tx_context& tx) -> caf::error {
    jit = tx.exec_text("SHOW jit", {})[0][0].c_str();
    return {};
  });
  CAF_REQUIRE(!err);
  CAF_CHECK_EQUAL(jit, "off");
}

CAF_TEST(an execution is created once) {
  new_execution x{"e-1", "org", "docs", 10, 42};
  CAF_CHECK_EQUAL(value_of(executions.create(x)), true);
  CAF_CHECK_EQUAL(value_of(executions.create(x)), false);
  auto e = executions.get("e-1");
  CAF_REQUIRE(e);
  CAF_CHECK_EQUAL(e->status, execution_status::queued);
  CAF_CHECK_EQUAL(e->files_total, 42);
  CAF_CHECK_EQUAL(e->workflow, "docs");
  CAF_CHECK(is(executions.get("nope").error(), errc::not_found));
  CAF_CHECK(is(executions.create({"", "", "docs", 1, 0}).error(), errc::invalid_argument));
}

CAF_TEST(status moves only by compare and set) {
  CAF_REQUIRE(executions.create({"e-1", "org", "docs", 10, 3}));
  using s = execution_status;
  CAF_CHECK_EQUAL(value_of(executions.transition("e-1", {s::queued}, s::executing)), true);
  CAF_CHECK_EQUAL(value_of(executions.transition("e-1", {s::queued}, s::executing)), false);
  CAF_CHECK(!executions.set_counts("e-1", 2, 1));
  CAF_CHECK_EQUAL(value_of(executions.transition("e-1", {s::executing}, s::completed)), true);
  CAF_CHECK_EQUAL(
      value_of(executions.transition("e-1", {s::queued, s::executing}, s::error, "late")), false);
  auto e = executions.get("e-1");
  CAF_CHECK_EQUAL(e->status, s::completed);
  CAF_CHECK_EQUAL(e->files_done, 2);
  CAF_CHECK_EQUAL(e->files_failed, 1);
  CAF_CHECK_EQUAL(e->error, "");
  CAF_CHECK_EQUAL(test::count(dsn,
                              "SELECT count(*) FROM postbox.executions WHERE started_at IS "
                              "NOT NULL AND finished_at IS NOT NULL"),
                  1);
}

CAF_TEST(concurrent transitions apply once) {
  CAF_REQUIRE(executions.create({"e-2", "org", "docs", 10, 3}));
  CAF_REQUIRE(value_of(
      executions.transition("e-2", {execution_status::queued}, execution_status::executing)));
  std::atomic<int> applied{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < 8; ++i)
    threads.emplace_back([&] {
      pg_session s{{dsn, "cas"}};
      execution_store es{s};
      auto r = es.transition("e-2", {execution_status::executing}, execution_status::completed);
      applied += (r && *r) ? 1 : 0;
    });
  for (auto& t : threads) t.join();
  CAF_CHECK_EQUAL(applied.load(), 1);
}

CAF_TEST(outbox rows are unique per execution and kind) {
  CAF_CHECK_EQUAL(value_of(outbox.enqueue("e-1", "webhook", R"({"status":"COMPLETED"})")), true);
  CAF_CHECK_EQUAL(value_of(outbox.enqueue("e-1", "webhook", R"({"status":"COMPLETED"})")), false);
  CAF_CHECK_EQUAL(value_of(outbox.enqueue("e-1", "usage", R"({"files":3})")), true);
  CAF_CHECK_EQUAL(test::count(dsn, "SELECT count(*) FROM postbox.outbox"), 2);
}

CAF_TEST(outbox delivery is fenced and gives up after max attempts) {
  CAF_REQUIRE(outbox.enqueue("e-1", "webhook", "{}"));
  auto first = outbox.claim_for_delivery(10, 0ms, "d1");
  CAF_REQUIRE_EQUAL(first->size(), 1u);
  CAF_CHECK_EQUAL(first->front().attempts, 1);
  // Lease 0 ms: another dispatcher may take it at once; the first is then fenced.
  auto second = outbox.claim_for_delivery(10, 60s, "d2");
  CAF_REQUIRE_EQUAL(second->size(), 1u);
  CAF_CHECK(is(outbox.mark_delivered(first->front()), errc::lease_lost));
  CAF_CHECK_EQUAL(value_of(outbox.mark_failed(second->front(), 0ms, 3, "503")),
                  outbox_state::pending);
  auto third = outbox.claim_for_delivery(10, 60s, "d1");
  CAF_REQUIRE_EQUAL(third->size(), 1u);
  CAF_CHECK_EQUAL(value_of(outbox.mark_failed(third->front(), 0ms, 3, "503")),
                  outbox_state::failed);
  CAF_CHECK_EQUAL(outbox.claim_for_delivery(10, 60s, "d1")->size(), 0u);
  CAF_CHECK_EQUAL(test::scalar(dsn,
                               "SELECT state || ':' || attempts || ':' || last_error "
                               "FROM postbox.outbox"),
                  "failed:3:503");
  CAF_REQUIRE(outbox.enqueue("e-2", "webhook", "{}"));
  auto ok = outbox.claim_for_delivery(10, 60s, "d1");
  CAF_REQUIRE_EQUAL(ok->size(), 1u);
  CAF_CHECK(!outbox.mark_delivered(ok->front()));
  CAF_CHECK_EQUAL(test::count(dsn, "SELECT count(*) FROM postbox.outbox WHERE state = 'delivered'"),
                  1);
}

CAF_TEST_FIXTURE_SCOPE_END()

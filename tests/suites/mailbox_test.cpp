// The mailbox on PostgreSQL: exactly-one delivery under concurrency, leases and
// receipts, renewal, nack and dead letters.
#define CAF_SUITE mailbox
#include <atomic>
#include <caf/test/unit_test.hpp>
#include <set>
#include <thread>

#include "persistence/mailbox_store.hpp"
#include "support/pg_fixture.hpp"
#include "support/values.hpp"

using namespace postbox;
using postbox::test::value_of;
using namespace std::chrono_literals;

namespace {

struct fixture {
  std::string dsn = test::create_migrated_database("mailbox");
  pg_session session{{dsn, "mailbox-test"}};
  mailbox_store mailbox{session};

  outgoing_message msg(const std::string& queue, int n) {
    outgoing_message m;
    m.queue = queue;
    m.type = "execution_callback";
    m.execution_id = "exec-" + std::to_string(n);
    m.org = "org-1";
    m.payload = R"({"n":)" + std::to_string(n) + "}";
    return m;
  }

  /// Reads until something is delivered or `deadline` passes (leases expire in real time).
  std::vector<delivery> read_within(const std::string& queue, std::chrono::milliseconds vt,
                                    std::chrono::milliseconds deadline) {
    auto until = std::chrono::steady_clock::now() + deadline;
    for (;;) {
      auto r = mailbox.read(queue, 10, vt, "reader");
      if (!r) CAF_FAIL("read failed: " << describe(r.error()));
      if (!r->empty() || std::chrono::steady_clock::now() > until) return *r;
      std::this_thread::sleep_for(20ms);
    }
  }
};

}  // namespace

CAF_TEST_FIXTURE_SCOPE(mailbox_tests, fixture)

CAF_TEST(send read ack) {
  auto id = mailbox.send(msg("q", 1));
  CAF_REQUIRE(id);
  CAF_CHECK_EQUAL(value_of(mailbox.depth("q")), 1);
  auto got = mailbox.read("q", 10, 30s, "me");
  CAF_REQUIRE(got);
  CAF_REQUIRE_EQUAL(got->size(), 1u);
  const auto& d = got->front();
  CAF_CHECK_EQUAL(d.id, *id);
  CAF_CHECK_EQUAL(d.read_ct, 1);
  CAF_CHECK_EQUAL(d.execution_id, "exec-1");
  CAF_CHECK_EQUAL(d.org, "org-1");
  CAF_CHECK_EQUAL(d.payload, R"({"n": 1})");
  CAF_CHECK_EQUAL(mailbox.read("q", 10, 30s, "other")->size(), 0u);  // leased
  CAF_CHECK(!mailbox.ack(d.to_lease()));
  CAF_CHECK_EQUAL(value_of(mailbox.depth("q")), 0);
  CAF_CHECK_EQUAL(test::count(dsn, "SELECT count(*) FROM postbox.mailbox"), 0);
}

CAF_TEST(send batch is one statement for n messages) {
  std::vector<outgoing_message> batch;
  for (int i = 0; i < 250; ++i) batch.push_back(msg(i % 2 ? "odd" : "even", i));
  batch[3].execution_id.clear();  // identity is optional: NULL columns
  auto ids = mailbox.send_batch(batch);
  CAF_REQUIRE(ids);
  CAF_CHECK_EQUAL(ids->size(), 250u);
  CAF_CHECK_EQUAL(std::set<int64_t>(ids->begin(), ids->end()).size(), 250u);
  CAF_CHECK_EQUAL(value_of(mailbox.depth("odd")), 125);
  CAF_CHECK_EQUAL(value_of(mailbox.depth("even")), 125);
  CAF_CHECK_EQUAL(
      test::count(dsn, "SELECT count(*) FROM postbox.mailbox WHERE execution_id IS NULL"), 1);
}

CAF_TEST(eight readers drain ten thousand messages exactly once) {
  constexpr int total = 10000;
  std::vector<outgoing_message> batch;
  for (int i = 0; i < total; ++i) {
    batch.push_back(msg("drain", i));
    if (batch.size() == 1000) {
      CAF_REQUIRE(mailbox.send_batch(batch));
      batch.clear();
    }
  }
  CAF_REQUIRE_EQUAL(value_of(mailbox.depth("drain")), total);
  constexpr int readers = 8;
  std::vector<std::vector<int64_t>> delivered(readers);
  std::vector<size_t> acked(readers, 0), lost(readers, 0), errors(readers, 0);
  std::vector<std::thread> threads;
  for (int r = 0; r < readers; ++r) {
    threads.emplace_back([&, r] {
      pg_session s{{dsn, "drain-" + std::to_string(r)}};
      mailbox_store mb{s};
      int empty_reads = 0;
      while (empty_reads < 3) {
        auto got = mb.read("drain", 25, 60s, "reader-" + std::to_string(r));
        if (!got) {
          ++errors[r];
          continue;
        }
        if (got->empty()) {
          ++empty_reads;
          continue;
        }
        empty_reads = 0;
        std::vector<lease> leases;
        for (const auto& d : *got) {
          delivered[r].push_back(d.id);
          leases.push_back(d.to_lease());
        }
        auto res = mb.ack_batch(leases);
        if (!res) {
          ++errors[r];
          continue;
        }
        acked[r] += res->acked.size();
        lost[r] += res->lost.size();
      }
    });
  }
  for (auto& t : threads) t.join();
  std::set<int64_t> all;
  size_t deliveries = 0, total_acked = 0, total_lost = 0, total_errors = 0;
  int busy_readers = 0;
  for (int r = 0; r < readers; ++r) {
    deliveries += delivered[r].size();
    all.insert(delivered[r].begin(), delivered[r].end());
    total_acked += acked[r];
    total_lost += lost[r];
    total_errors += errors[r];
    busy_readers += delivered[r].empty() ? 0 : 1;
  }
  CAF_MESSAGE(busy_readers << " of " << readers << " readers got work");
  CAF_CHECK_EQUAL(deliveries, static_cast<size_t>(total));  // no message delivered twice
  CAF_CHECK_EQUAL(all.size(), static_cast<size_t>(total));  // every message delivered
  CAF_CHECK_EQUAL(total_acked, static_cast<size_t>(total));
  CAF_CHECK_EQUAL(total_lost, 0u);
  CAF_CHECK_EQUAL(total_errors, 0u);
  CAF_CHECK_EQUAL(test::count(dsn, "SELECT count(*) FROM postbox.mailbox"), 0);
}

CAF_TEST(an expired lease redelivers and fences the old receipt) {
  auto id = mailbox.send(msg("lease", 1));
  CAF_REQUIRE(id);
  auto first = mailbox.read("lease", 1, 200ms, "frozen-node");
  CAF_REQUIRE_EQUAL(first->size(), 1u);
  auto old = first->front();
  // Invisible while leased, back after the timeout with read_ct + 1 and a new receipt.
  CAF_CHECK_EQUAL(mailbox.read("lease", 1, 200ms, "other")->size(), 0u);
  auto second = read_within("lease", 30s, 5s);
  CAF_REQUIRE_EQUAL(second.size(), 1u);
  CAF_CHECK_EQUAL(second[0].id, old.id);
  CAF_CHECK_EQUAL(second[0].read_ct, old.read_ct + 1);
  CAF_CHECK_NOT_EQUAL(second[0].receipt, old.receipt);
  // The frozen node wakes up: every fenced write with its receipt is refused.
  CAF_CHECK(is(mailbox.ack(old.to_lease()), errc::lease_lost));
  CAF_CHECK(is(mailbox.renew_lease(old.to_lease(), 30s), errc::lease_lost));
  CAF_CHECK(is(mailbox.nack(old.to_lease(), 0ms, "late"), errc::lease_lost));
  CAF_CHECK(is(mailbox.dead_letter(old.to_lease(), "late").error(), errc::lease_lost));
  CAF_CHECK_EQUAL(test::count(dsn,
                              "SELECT count(*) FROM postbox.mailbox WHERE read_ct = 2 AND "
                              "last_error IS NULL"),
                  1);
  CAF_CHECK_EQUAL(test::count(dsn, "SELECT count(*) FROM postbox.dead_letters"), 0);
  CAF_CHECK(!mailbox.ack(second[0].to_lease()));
  CAF_CHECK_EQUAL(value_of(mailbox.depth("lease")), 0);
}

CAF_TEST(renewal keeps a message invisible past its first timeout) {
  CAF_REQUIRE(mailbox.send(msg("renew", 1)));
  auto got = mailbox.read("renew", 1, 300ms, "worker");
  CAF_REQUIRE_EQUAL(got->size(), 1u);
  auto held = got->front();
  auto until = std::chrono::steady_clock::now() + 1200ms;  // four times the timeout
  size_t stolen = 0;
  while (std::chrono::steady_clock::now() < until) {
    CAF_REQUIRE(!mailbox.renew_lease(held.to_lease(), 300ms));
    stolen += mailbox.read("renew", 1, 300ms, "thief")->size();
    std::this_thread::sleep_for(100ms);
  }
  CAF_CHECK_EQUAL(stolen, 0u);
  CAF_CHECK(!mailbox.ack(held.to_lease()));
  CAF_CHECK_EQUAL(value_of(mailbox.depth("renew")), 0);
}

CAF_TEST(one statement renews every held lease and names the lost ones) {
  for (int i = 0; i < 3; ++i) CAF_REQUIRE(mailbox.send(msg("renew_many", i)));
  auto got = mailbox.read("renew_many", 3, 300ms, "worker");
  CAF_REQUIRE_EQUAL(got->size(), 3u);
  // The third lease moves on: read again by another reader after it expired.
  auto stale = (*got)[2];
  auto until = std::chrono::steady_clock::now() + 1200ms;  // four times the timeout
  size_t stolen = 0;
  while (std::chrono::steady_clock::now() < until) {
    auto lost = mailbox.renew_leases({(*got)[0].to_lease(), (*got)[1].to_lease()}, 300ms);
    CAF_REQUIRE(lost);
    CAF_CHECK(lost->empty());
    stolen += mailbox.read("renew_many", 3, 30s, "thief")->size();
    std::this_thread::sleep_for(100ms);
  }
  CAF_CHECK_EQUAL(stolen, 1u);  // only the one not renewed
  auto lost =
      mailbox.renew_leases({(*got)[0].to_lease(), (*got)[1].to_lease(), stale.to_lease()}, 300ms);
  CAF_REQUIRE(lost);
  CAF_REQUIRE_EQUAL(lost->size(), 1u);
  CAF_CHECK_EQUAL(lost->front(), stale.id);
  CAF_CHECK(!mailbox.ack((*got)[0].to_lease()));
  CAF_CHECK(!mailbox.ack((*got)[1].to_lease()));
}

CAF_TEST(nack makes a message visible again after its delay) {
  CAF_REQUIRE(mailbox.send(msg("nack", 1)));
  auto got = mailbox.read("nack", 1, 30s, "worker");
  CAF_REQUIRE_EQUAL(got->size(), 1u);
  CAF_CHECK(!mailbox.nack(got->front().to_lease(), 150ms, "processor said no"));
  CAF_CHECK(is(mailbox.ack(got->front().to_lease()), errc::lease_lost));  // receipt died
  auto again = read_within("nack", 30s, 5s);
  CAF_REQUIRE_EQUAL(again.size(), 1u);
  CAF_CHECK_EQUAL(again[0].read_ct, 2);
  CAF_CHECK_EQUAL(again[0].last_error, "processor said no");
}

CAF_TEST(an abandoned delivery comes back a suspect and is charged only if it ran alone) {
  CAF_REQUIRE(mailbox.send(msg("crash", 1)));
  auto first = mailbox.read("crash", 1, 150ms, "node-a");
  CAF_REQUIRE_EQUAL(first->size(), 1u);
  CAF_CHECK(!first->front().suspect);
  // node-a dies with it among others: its lease runs out without an ack or nack.
  auto second = read_within("crash", 150ms, 5s);
  CAF_REQUIRE_EQUAL(second.size(), 1u);
  CAF_CHECK(second[0].suspect);
  CAF_CHECK_EQUAL(second[0].attempts, 0);  // it did not run alone: not charged
  // node-b runs it alone, and dies again: now the crash is its own.
  CAF_REQUIRE(!mailbox.mark_running_alone(second[0].to_lease(), "node-b:41:1"));
  auto third = read_within("crash", 150ms, 5s);
  CAF_REQUIRE_EQUAL(third.size(), 1u);
  CAF_CHECK(third[0].suspect);
  CAF_CHECK_EQUAL(third[0].attempts, 1);
  CAF_CHECK_EQUAL(third[0].read_ct, 3);
  CAF_CHECK_EQUAL(third[0].last_error, "crashed its node while running alone (on node-b:41:1)");
  // A stale receipt cannot mark anything.
  CAF_CHECK(is(mailbox.mark_running_alone(second[0].to_lease(), "node-b:41:1"), errc::lease_lost));
  // The same node process runs it alone and reads it back after losing its lease (a
  // database outage, not a crash: it is alive): nothing is charged.
  CAF_REQUIRE(!mailbox.mark_running_alone(third[0].to_lease(), "node-c:7:1"));
  std::vector<delivery> fourth;
  auto until = std::chrono::steady_clock::now() + 5s;
  while (fourth.empty() && std::chrono::steady_clock::now() < until) {
    fourth = value_of(mailbox.read("crash", 1, 30s, "node-c/q", "node-c:7:1"));
    if (fourth.empty()) std::this_thread::sleep_for(20ms);
  }
  CAF_REQUIRE_EQUAL(fourth.size(), 1u);
  CAF_CHECK_EQUAL(fourth[0].attempts, 1);
}

CAF_TEST(a suspect is one no more once a delivery of it ends with its node alive) {
  for (int n : {1, 2, 3}) CAF_REQUIRE(mailbox.send(msg("clear-" + std::to_string(n), n)));
  // Each is abandoned once (its node died beside a culprit) and comes back a suspect.
  auto suspect = [&](const std::string& q) {
    CAF_REQUIRE_EQUAL(value_of(mailbox.read(q, 1, 50ms, "node-a")).size(), 1u);
    auto got = read_within(q, 30s, 5s);
    CAF_REQUIRE_EQUAL(got.size(), 1u);
    CAF_REQUIRE(got[0].suspect);
    return got[0];
  };
  // 1 runs alone and fails (its handler's error): a retry runs beside others again.
  auto d1 = suspect("clear-1");
  CAF_REQUIRE(!mailbox.mark_running_alone(d1.to_lease(), "node-b:1:1"));
  CAF_REQUIRE(mailbox.fail(d1.to_lease(), 0ms, "failed with logic_error: no"));
  auto again = read_within("clear-1", 30s, 5s);
  CAF_REQUIRE_EQUAL(again.size(), 1u);
  CAF_CHECK(!again[0].suspect);
  CAF_CHECK_EQUAL(again[0].attempts, 1);
  // 2 runs alone and is given back (a drain, a lost connection): not a suspect either.
  auto d2 = suspect("clear-2");
  CAF_REQUIRE(!mailbox.mark_running_alone(d2.to_lease(), "node-b:1:1"));
  CAF_REQUIRE(!mailbox.nack(d2.to_lease(), 0ms, "node draining"));
  again = read_within("clear-2", 30s, 5s);
  CAF_REQUIRE_EQUAL(again.size(), 1u);
  CAF_CHECK(!again[0].suspect);
  CAF_CHECK_EQUAL(again[0].attempts, 0);
  // 3 is given back before it ran alone: still a suspect (nothing was learnt).
  auto d3 = suspect("clear-3");
  CAF_REQUIRE(!mailbox.nack_unless_locked(d3.to_lease(), 0ms, "node draining"));
  again = read_within("clear-3", 30s, 5s);
  CAF_REQUIRE_EQUAL(again.size(), 1u);
  CAF_CHECK(again[0].suspect);
  // The lock-free fail clears it too.
  CAF_REQUIRE(!mailbox.mark_running_alone(again[0].to_lease(), "node-b:1:1"));
  CAF_REQUIRE(mailbox.fail_unless_locked(again[0].to_lease(), 0ms, "timed out"));
  again = read_within("clear-3", 30s, 5s);
  CAF_REQUIRE_EQUAL(again.size(), 1u);
  CAF_CHECK(!again[0].suspect);
  CAF_CHECK_EQUAL(again[0].attempts, 1);
}

CAF_TEST(a suspect running alone on a live node is not charged when another node reads it) {
  // node-a (incarnation a:1:1) is alive: its heartbeat is fresh.
  test::exec(dsn,
             "INSERT INTO postbox.nodes (name, host, pid, incarnation) VALUES "
             "('a', '127.0.0.1', 1, 'a:1:1')");
  CAF_REQUIRE(mailbox.send(msg("alive", 1)));
  CAF_REQUIRE_EQUAL(value_of(mailbox.read("alive", 1, 50ms, "a/alive", "a:1:1")).size(), 1u);
  auto d = read_within("alive", 200ms, 5s);  // abandoned once: a suspect
  CAF_REQUIRE_EQUAL(d.size(), 1u);
  CAF_REQUIRE(!mailbox.mark_running_alone(d[0].to_lease(), "a:1:1"));
  // Its lease runs out (a partition between a and the database): b reads within the
  // grace period and finds nothing; a's renewal and ack still hold.
  std::this_thread::sleep_for(300ms);
  auto read_b = [&] {
    return value_of(mailbox.read("alive", 1, 200ms, "b/alive", "b:2:2", nullptr, nullptr, 1500ms));
  };
  CAF_CHECK(read_b().empty());
  CAF_CHECK(!mailbox.renew_lease(d[0].to_lease(), 50ms));
  // a stays alive but never comes back for it: after the grace period b reads it,
  // uncharged.
  std::vector<delivery> got;
  auto until = std::chrono::steady_clock::now() + 5s;
  while (got.empty() && std::chrono::steady_clock::now() < until) {
    test::exec(dsn, "UPDATE postbox.nodes SET heartbeat_at = now()");
    got = read_b();
    if (got.empty()) std::this_thread::sleep_for(50ms);
  }
  CAF_REQUIRE_EQUAL(got.size(), 1u);
  CAF_CHECK(got[0].suspect);
  CAF_CHECK_EQUAL(got[0].attempts, 0);
  // b runs it alone now, and b's process dies: a new b incarnation (its row names it)
  // reads it at once and charges it.
  CAF_REQUIRE(!mailbox.mark_running_alone(got[0].to_lease(), "b:2:2"));
  test::exec(dsn,
             "INSERT INTO postbox.nodes (name, host, pid, incarnation) VALUES "
             "('b', '127.0.0.1', 3, 'b:3:3')");
  std::this_thread::sleep_for(250ms);
  auto charged =
      value_of(mailbox.read("alive", 1, 30s, "b/alive", "b:3:3", nullptr, nullptr, 1500ms));
  CAF_REQUIRE_EQUAL(charged.size(), 1u);
  CAF_CHECK_EQUAL(charged[0].attempts, 1);
  CAF_CHECK_EQUAL(charged[0].last_error, "crashed its node while running alone (on b:2:2)");
  // And a's stale heartbeat counts as gone: charged at once.
  CAF_REQUIRE(!mailbox.mark_running_alone(charged[0].to_lease(), "a:1:1"));
  test::exec(dsn,
             "UPDATE postbox.mailbox SET visible_at = now() - interval '1 millisecond';"
             "UPDATE postbox.nodes SET heartbeat_at = now() - interval '1 hour' WHERE name = 'a'");
  auto stale =
      value_of(mailbox.read("alive", 1, 30s, "b/alive", "b:3:3", nullptr, nullptr, 1500ms));
  CAF_REQUIRE_EQUAL(stale.size(), 1u);
  CAF_CHECK_EQUAL(stale[0].attempts, 2);
}

CAF_TEST(fail charges an attempt and nack does not ) {
  CAF_REQUIRE(mailbox.send(msg("charge", 1)));
  auto first = mailbox.read("charge", 1, 30s, "worker");
  CAF_REQUIRE_EQUAL(first->size(), 1u);
  CAF_CHECK(!mailbox.nack(first->front().to_lease(), 0ms, "node draining"));
  auto got = read_within("charge", 30s, 5s);
  CAF_REQUIRE_EQUAL(got.size(), 1u);
  CAF_CHECK_EQUAL(got[0].attempts, 0);
  CAF_CHECK(!got[0].suspect);  // given back, not abandoned
  auto n = mailbox.fail(got[0].to_lease(), 0ms, "failed with logic_error: boom");
  CAF_REQUIRE(n);
  CAF_CHECK_EQUAL(*n, 1);
  CAF_CHECK(is(mailbox.fail(got[0].to_lease(), 0ms, "late").error(), errc::lease_lost));
  got = read_within("charge", 30s, 5s);
  CAF_REQUIRE_EQUAL(got.size(), 1u);
  CAF_CHECK_EQUAL(got[0].attempts, 1);
  CAF_CHECK_EQUAL(got[0].read_ct, 3);
  CAF_CHECK_EQUAL(got[0].last_error, "failed with logic_error: boom");
}

CAF_TEST(dead letter keeps payload identity headers and reason) {
  auto m = msg("orchestrator", 7);
  m.type = "execute_workflow";
  m.payload = R"({"broken": true})";
  m.headers =
      R"({"on_error": {"queue": "hooks", "type": "failed", "payload": {}}, "trace_id": "t-1"})";
  auto id = mailbox.send(m);
  CAF_REQUIRE(id);
  auto got = mailbox.read("orchestrator", 1, 30s, "node-a");
  CAF_REQUIRE_EQUAL(got->size(), 1u);
  auto dl = mailbox.dead_letter(got->front().to_lease(), "field 'workflow': missing");
  CAF_REQUIRE(dl);
  CAF_CHECK_EQUAL(value_of(mailbox.depth("orchestrator")), 0);
  auto q = "SELECT count(*) FROM postbox.dead_letters WHERE id = " + std::to_string(*dl) +
           " AND message_id = " + std::to_string(*id) +
           " AND queue = 'orchestrator' AND type = 'execute_workflow' AND execution_id = 'exec-7'"
           " AND org = 'org-1' AND payload = '{\"broken\": true}'::jsonb"
           " AND headers->>'trace_id' = 't-1' AND headers->'on_error'->>'queue' = 'hooks'"
           " AND reason = 'field ''workflow'': missing' AND read_ct = 1 AND dead_by = 'node-a'";
  CAF_CHECK_EQUAL(test::count(dsn, q), 1);
}

CAF_TEST(backoff doubles up to its cap) {
  CAF_CHECK_EQUAL(backoff_delay(1, 1s, 60s).count(), 1000);
  CAF_CHECK_EQUAL(backoff_delay(2, 1s, 60s).count(), 2000);
  CAF_CHECK_EQUAL(backoff_delay(4, 1s, 60s).count(), 8000);
  CAF_CHECK_EQUAL(backoff_delay(40, 1s, 60s).count(), 60000);
}

CAF_TEST_FIXTURE_SCOPE_END()

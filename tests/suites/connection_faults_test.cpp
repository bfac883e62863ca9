// Connection loss at the store boundary, with real pg_terminate_backend:
// idempotent writes retry once, sends are never retried blindly, logic errors
// never retried.
#define CAF_SUITE connection_faults
#include <caf/test/unit_test.hpp>
#include <future>
#include <thread>

#include "persistence/claims_store.hpp"
#include "persistence/detail/tx_context.hpp"
#include "persistence/mailbox_store.hpp"
#include "support/pg_fixture.hpp"
#include "support/values.hpp"

using namespace postbox;
using postbox::test::value_of;
using namespace std::chrono_literals;

namespace {

struct fixture {
  std::string dsn = test::create_migrated_database("faults");

  outgoing_message msg(const std::string& queue) {
    outgoing_message m;
    m.queue = queue;
    m.type = "t";
    m.execution_id = "e-1";
    return m;
  }

  /// Waits until a backend of `app` runs a statement (state 'active').
  bool wait_active(const std::string& app, std::chrono::milliseconds deadline) {
    auto until = std::chrono::steady_clock::now() + deadline;
    while (std::chrono::steady_clock::now() < until) {
      if (test::count(dsn, "SELECT count(*) FROM pg_stat_activity WHERE application_name = '" +
                               app + "' AND state = 'active' AND datname = current_database()") > 0)
        return true;
      std::this_thread::sleep_for(10ms);
    }
    return false;
  }
};

}  // namespace

CAF_TEST_FIXTURE_SCOPE(connection_fault_tests, fixture)

CAF_TEST(ack survives a terminated backend between read and ack) {
  pg_session s{{dsn, "victim-ack"}};
  mailbox_store mb{s};
  CAF_REQUIRE(mb.send(msg("q")));
  auto got = mb.read("q", 1, 30s, "w");
  CAF_REQUIRE_EQUAL(got->size(), 1u);
  auto before = s.backend_pid();
  CAF_REQUIRE_EQUAL(test::terminate_backends(dsn, "victim-ack"), 1);
  CAF_CHECK(!mb.ack(got->front().to_lease()));  // by its one retry
  CAF_CHECK_NOT_EQUAL(s.backend_pid(), before);
  CAF_CHECK_EQUAL(test::count(dsn, "SELECT count(*) FROM postbox.mailbox"), 0);
}

CAF_TEST(renew survives a terminated backend) {
  pg_session s{{dsn, "victim-renew"}};
  mailbox_store mb{s};
  CAF_REQUIRE(mb.send(msg("q")));
  auto got = mb.read("q", 1, 30s, "w");
  CAF_REQUIRE_EQUAL(got->size(), 1u);
  CAF_REQUIRE_EQUAL(test::terminate_backends(dsn, "victim-renew"), 1);
  CAF_CHECK(!mb.renew_lease(got->front().to_lease(), 60s));
  CAF_CHECK_EQUAL(test::count(dsn,
                              "SELECT count(*) FROM postbox.mailbox "
                              "WHERE visible_at > now() + interval '45 seconds'"),
                  1);
}

CAF_TEST(claim release survives a terminated backend) {
  pg_session s{{dsn, "victim-release"}};
  claims_store claims{s};
  lease holder{42, 7};
  CAF_REQUIRE_EQUAL(value_of(claims.try_claim("e-1", "node-a", holder)), claim_outcome::won);
  CAF_REQUIRE_EQUAL(test::terminate_backends(dsn, "victim-release"), 1);
  CAF_CHECK(!claims.release("e-1", holder));
  CAF_CHECK_EQUAL(test::count(dsn, "SELECT count(*) FROM postbox.claims"), 0);
}

CAF_TEST(a send cut off mid statement surfaces an error and is not retried) {
  // A trigger holds the INSERT on the server long enough to kill its backend.
  test::exec(dsn, R"(
    CREATE FUNCTION public.slow_insert() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN IF NEW.queue = 'slow' THEN PERFORM pg_sleep(3); END IF; RETURN NEW; END $$;
    CREATE TRIGGER slow_insert BEFORE INSERT ON postbox.mailbox
      FOR EACH ROW EXECUTE FUNCTION public.slow_insert();)");
  pg_session s{{dsn, "victim-send"}};
  CAF_REQUIRE(!s.connect());
  mailbox_store mb{s};
  auto pending = std::async(std::launch::async, [&] { return mb.send(msg("slow")); });
  CAF_REQUIRE(wait_active("victim-send", 10s));
  CAF_REQUIRE_EQUAL(test::terminate_backends(dsn, "victim-send"), 1);
  auto result = pending.get();
  CAF_REQUIRE(!result);
  CAF_CHECK(is(result.error(), errc::connection_lost));
  // Had it been retried blindly, the row would be there (the retry would sleep and commit).
  CAF_CHECK_EQUAL(test::count(dsn, "SELECT count(*) FROM postbox.mailbox"), 0);
  // The session reconnects for the next call.
  CAF_CHECK(mb.send(msg("fast")));
  CAF_CHECK_EQUAL(test::count(dsn, "SELECT count(*) FROM postbox.mailbox"), 1);
}

CAF_TEST(a send on a connection that died while idle goes through) {
  // BEGIN never reached the server, so running the transaction again is not blind.
  pg_session s{{dsn, "victim-idle"}};
  mailbox_store mb{s};
  CAF_REQUIRE(mb.send(msg("q")));
  CAF_REQUIRE_EQUAL(test::terminate_backends(dsn, "victim-idle"), 1);
  CAF_CHECK(mb.send(msg("q")));
  CAF_CHECK_EQUAL(test::count(dsn, "SELECT count(*) FROM postbox.mailbox"), 2);
}

CAF_TEST(logic errors are never retried and dead connections once) {
  pg_session s{{dsn, "retry-policy"}};
  test::exec(dsn, "CREATE TABLE public.t (id int PRIMARY KEY); INSERT INTO public.t VALUES (1)");
  int runs = 0;
  auto err = s.transact(retry_policy::once, [&](tx_context& tx) -> caf::error {
    ++runs;
    tx.work().exec("INSERT INTO public.t VALUES (1)");
    return {};
  });
  CAF_CHECK(is(err, errc::constraint_violation));
  CAF_CHECK_EQUAL(runs, 1);

  runs = 0;
  err = s.transact(retry_policy::once, [&](tx_context& tx) -> caf::error {
    ++runs;
    tx.work().exec("SELEC 1");
    return {};
  });
  CAF_CHECK(is(err, errc::logic_error));
  CAF_CHECK_EQUAL(runs, 1);

  runs = 0;
  err = s.transact(retry_policy::once, [&](tx_context& tx) -> caf::error {
    if (++runs == 1) tx.work().exec("SELECT pg_terminate_backend(pg_backend_pid())");
    tx.work().exec("INSERT INTO public.t VALUES (2)");
    return {};
  });
  CAF_CHECK(!err);
  CAF_CHECK_EQUAL(runs, 2);

  runs = 0;
  err = s.transact(retry_policy::never, [&](tx_context& tx) -> caf::error {
    ++runs;
    tx.work().exec("SELECT pg_terminate_backend(pg_backend_pid())");
    return {};
  });
  CAF_CHECK(is(err, errc::connection_lost));
  CAF_CHECK_EQUAL(runs, 1);
  CAF_CHECK_EQUAL(test::count(dsn, "SELECT count(*) FROM public.t"), 2);
}

CAF_TEST(a write that lands on a read only server is a lost connection not the message fault) {
  // What a connection sees after a failover when it reached a standby (or the demoted
  // old primary): 25006 on its first write. It is dropped and retried like a lost
  // connection, so the message is never charged; a read-only transaction's 25006 stays
  // the statement's error.
  pg_session s{{dsn, "standby-victim"}};
  mailbox_store mb{s};
  CAF_REQUIRE(mb.send(msg("q")));
  auto got = value_of(mb.read("q", 1, 30s, "w"));
  CAF_REQUIRE_EQUAL(got.size(), 1u);
  const auto before = s.backend_pid();
  const std::string db = test::scalar(dsn, "SELECT current_database()");
  test::exec(test::server_dsn(),
             "ALTER DATABASE \"" + db + "\" SET default_transaction_read_only = on");
  CAF_REQUIRE_EQUAL(test::terminate_backends(dsn, "standby-victim"), 1);
  auto err = mb.ack(got.front().to_lease());
  CAF_CHECK(is(err, errc::connection_lost));
  CAF_MESSAGE("ack on a read-only server: " << describe(err));
  auto sent = mb.send(msg("q"));
  CAF_CHECK(!sent && is(sent.error(), errc::connection_lost));
  // Its read count only: no attempt was charged, nothing was lost.
  CAF_CHECK_EQUAL(test::count(dsn, "SELECT count(*) FROM postbox.mailbox WHERE attempts = 0"), 1);
  test::exec(test::server_dsn(),
             "ALTER DATABASE \"" + db + "\" RESET default_transaction_read_only");
  CAF_CHECK(!mb.ack(got.front().to_lease()));  // a fresh connection: a writable server again
  CAF_CHECK_NOT_EQUAL(s.backend_pid(), before);
  CAF_CHECK_EQUAL(test::count(dsn, "SELECT count(*) FROM postbox.mailbox"), 0);
  // In a read-only transaction the same error is the statement's: not retried, not "lost".
  auto ro = s.transact(
      retry_policy::once,
      [](tx_context& tx) -> caf::error {
        tx.exec_text("CREATE TABLE public.nope (x int)", std::vector<const char*>{});
        return {};
      },
      tx_kind::read_only);
  CAF_CHECK(is(ro, errc::logic_error));
}

CAF_TEST_FIXTURE_SCOPE_END()

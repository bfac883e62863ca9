// Group commit (issue 24): a node's finished deliveries commit together, one
// transaction, each in a savepoint of its own. Every guarantee stays per delivery: a
// user's bad SQL or a stale receipt in one rolls back that one alone, a cancelled
// execution's delivery is acked only, and the others commit. Then a real node killed
// -9 while a group of four batches (one whose user statement failed) sits in COMMIT:
// after its restart every file result exists once, every arrival counts once, every
// continuation fires once and every execution is COMPLETED with the right counts.
#define CAF_SUITE group_commit
#include <caf/test/unit_test.hpp>
#include <csignal>
#include <memory>
#include <thread>

#include "client/client.hpp"
#include "persistence/barrier_store.hpp"
#include "persistence/group_committer.hpp"
#include "persistence/handled_commit.hpp"
#include "persistence/mailbox_store.hpp"
#include "support/node_process.hpp"
#include "support/pg_fixture.hpp"

using namespace postbox;
using namespace std::chrono_literals;

namespace {

struct fixture {
  std::string dsn = test::create_migrated_database("group_commit");
  pg_session session{{dsn, "group-commit-test"}};
  mailbox_store mailbox{session};
  barrier_store barriers{session};

  int64_t n(const std::string& sql) const { return test::count(dsn, sql); }

  /// Claims the one message waiting on `queue` (sent if `send`).
  delivery claim_one(const std::string& queue) {
    auto got = mailbox.read(queue, 1, 30s, "test-owner");
    if (!got || got->size() != 1) CAF_FAIL("read " << queue);
    return got->front();
  }

  /// Group `g` of `k` children on queue `q` (the first `stopped` of them of execution
  /// e-stop, the others of `execution_id`), armed by a parent's fan_out committed
  /// alone; the children claimed, in index order.
  std::vector<delivery> fan_out(int k, const std::string& execution_id = "", int stopped = 0) {
    outgoing_message parent;
    parent.queue = "p";
    parent.type = "parent";
    if (!mailbox.send(parent)) CAF_FAIL("send");
    success_commit c;
    c.delivery = claim_one("p").to_lease();
    fan_out_group g;
    g.spec.group_id = "g";
    g.spec.expected = k;
    for (int i = 0; i < k; ++i) {
      outgoing_message m;
      m.queue = "q";
      m.type = "t";
      m.execution_id = i < stopped ? "e-stop" : execution_id;
      m.payload = R"({"i":)" + std::to_string(i) + "}";
      g.children.push_back(m);
    }
    c.groups.push_back(g);
    if (!commit_success(session, c)) CAF_FAIL("fan_out");
    auto got = mailbox.read("q", k, 30s, "test-owner");
    if (!got || static_cast<int>(got->size()) != k) CAF_FAIL("read");
    std::sort(got->begin(), got->end(),
              [](const delivery& a, const delivery& b) { return a.id < b.id; });
    return *got;
  }

  /// Delivery i's success: writes row k<i> in the user's table, arrives at group `g` at
  /// index i, and enqueues its on_success continuation on queue `done`.
  success_commit success(const delivery& d, int i) {
    success_commit c;
    c.delivery = d.to_lease();
    c.execution_id = d.execution_id;
    c.statements.push_back({"INSERT INTO public.t (k) VALUES ($1)", {"k" + std::to_string(i)}});
    c.arrive = postbox::group_member{"g", i};
    c.result_json = R"({"i":)" + std::to_string(i) + "}";
    outgoing_message cont;
    cont.queue = "done";
    cont.type = "cont";
    cont.payload = R"({"i":)" + std::to_string(i) + "}";
    c.on_success = cont;
    return c;
  }
};

}  // namespace

CAF_TEST_FIXTURE_SCOPE(group_commit_store_tests, fixture)

CAF_TEST(a bad statement and a stale receipt fail alone and the others commit together) {
  test::exec(dsn, "CREATE TABLE public.t (k text PRIMARY KEY)");
  auto ds = fan_out(6);
  std::vector<success_commit> cs;
  for (int i = 0; i < 6; ++i) cs.push_back(success(ds[i], i));
  // 1: the user's bad SQL, after its ack and its own good insert.
  cs[1].statements.push_back({"INSERT INTO public.no_such_table VALUES (1)", {}});
  // 3: a stale receipt (the message was read again meanwhile).
  cs[3].delivery.receipt += 1000;
  // 4: a constraint violation in its user statement (k0 is delivery 0's row).
  cs[4].statements.push_back({"INSERT INTO public.t (k) VALUES ('k0')", {}});
  // All of it is one transaction: at the last hook nothing of the others is visible.
  int64_t visible_at_last_hook = -1;
  cs[5].before_commit = [&] { visible_at_last_hook = n("SELECT count(*) FROM public.t"); };
  std::vector<const success_commit*> ptrs;
  for (auto& c : cs) ptrs.push_back(&c);
  auto answers = commit_successes(session, ptrs);
  CAF_REQUIRE_EQUAL(answers.size(), 6u);
  for (int i : {0, 2, 5}) {
    if (!answers[i]) CAF_MESSAGE("answer " << i << ": " << describe(answers[i].error()));
    CAF_CHECK(answers[i]);
    if (answers[i]) CAF_CHECK(answers[i]->effects);
  }
  CAF_REQUIRE(!answers[1]);
  CAF_CHECK(is(answers[1].error(), errc::logic_error));
  CAF_CHECK(describe(answers[1].error()).find("no_such_table") != std::string::npos);
  CAF_REQUIRE(!answers[3]);
  CAF_CHECK(is(answers[3].error(), errc::lease_lost));
  CAF_REQUIRE(!answers[4]);
  CAF_CHECK(is(answers[4].error(), errc::constraint_violation));
  CAF_CHECK_EQUAL(visible_at_last_hook, 0);
  // The committed three: acked, their rows, arrivals and continuations; nothing of the
  // failed three (their messages wait for their workers' nack or redelivery).
  CAF_CHECK_EQUAL(n("SELECT count(*) FROM public.t"), 3);
  CAF_CHECK_EQUAL(n("SELECT count(*) FROM public.t WHERE k IN ('k0', 'k2', 'k5')"), 3);
  CAF_CHECK_EQUAL(n("SELECT count(*) FROM postbox.mailbox WHERE queue = 'q'"), 3);
  CAF_CHECK_EQUAL(n("SELECT count(*) FROM postbox.mailbox WHERE queue = 'q' AND id IN (" +
                    std::to_string(ds[1].id) + "," + std::to_string(ds[3].id) + "," +
                    std::to_string(ds[4].id) + ")"),
                  3);
  CAF_CHECK_EQUAL(n("SELECT count(*) FROM postbox.barrier_arrivals WHERE group_id = 'g'"), 3);
  CAF_CHECK_EQUAL(n("SELECT remaining FROM postbox.barriers WHERE group_id = 'g'"), 3);
  CAF_CHECK_EQUAL(n("SELECT count(*) FROM postbox.mailbox WHERE queue = 'done'"), 3);
  CAF_CHECK_EQUAL(
      n("SELECT count(*) FROM postbox.mailbox WHERE queue = 'done' AND payload->>'i' IN "
        "('0', '2', '5')"),
      3);

  // The failed ones, redone (their receipts still hold, 3 read afresh), complete the group.
  auto again = mailbox.read("q", 10, 30s, "test-owner");
  CAF_REQUIRE(again);
  CAF_REQUIRE_EQUAL(again->size(), 0u);  // still leased: the fixed deliveries retry
  cs[1].statements.pop_back();
  cs[4].statements.pop_back();
  cs[3].delivery.receipt -= 1000;
  cs[5].before_commit = nullptr;
  auto redone = commit_successes(session, {&cs[4], &cs[1], &cs[3]});
  for (auto& r : redone) CAF_CHECK(r);
  CAF_CHECK_EQUAL(n("SELECT count(*) FROM public.t"), 6);
  CAF_CHECK_EQUAL(n("SELECT count(*) FROM postbox.mailbox WHERE queue = 'q'"), 0);
  CAF_CHECK_EQUAL(n("SELECT count(*) FROM postbox.barrier_arrivals WHERE group_id = 'g'"), 6);
  CAF_CHECK_EQUAL(n("SELECT remaining FROM postbox.barriers WHERE group_id = 'g'"), 0);
  CAF_CHECK_EQUAL(n("SELECT count(*) FROM postbox.mailbox WHERE queue = 'done'"), 6);
}

CAF_TEST(a delivery of a cancelled execution in a group is acked only and the others commit) {
  test::exec(dsn, "CREATE TABLE public.t (k text PRIMARY KEY)");
  test::exec(dsn,
             "INSERT INTO postbox.executions (id, workflow, status) VALUES ('e-stop', 'w', "
             "'STOPPED'), ('e-run', 'w', 'EXECUTING')");
  auto ds = fan_out(3, "e-run", 1);  // 0 of e-stop, 1 and 2 of e-run
  std::vector<success_commit> cs{success(ds[1], 1), success(ds[0], 0), success(ds[2], 2)};
  auto answers = commit_successes(session, {&cs[0], &cs[1], &cs[2]});
  for (auto& a : answers) CAF_REQUIRE(a);
  CAF_CHECK(answers[0]->effects);
  CAF_CHECK(!answers[1]->effects);
  CAF_CHECK(answers[2]->effects);
  CAF_CHECK_EQUAL(n("SELECT count(*) FROM postbox.mailbox WHERE queue = 'q'"), 0);
  CAF_CHECK_EQUAL(n("SELECT count(*) FROM public.t WHERE k IN ('k1', 'k2')"), 2);
  CAF_CHECK_EQUAL(n("SELECT count(*) FROM public.t"), 2);
  // Every member arrives once: the stopped one as cancelled; its continuation is not sent.
  CAF_CHECK_EQUAL(n("SELECT count(*) FROM postbox.barrier_arrivals WHERE group_id = 'g'"), 3);
  CAF_CHECK_EQUAL(n("SELECT count(*) FROM postbox.barrier_arrivals WHERE group_id = 'g' AND "
                    "error = 'cancelled'"),
                  1);
  CAF_CHECK_EQUAL(n("SELECT count(*) FROM postbox.mailbox WHERE queue = 'done'"), 2);
}

CAF_TEST(the committer groups what waits and answers each worker its own outcome) {
  test::exec(dsn, "CREATE TABLE public.t (k text PRIMARY KEY)");
  auto ds = fan_out(4);
  std::vector<success_commit> cs;
  for (int i = 0; i < 4; ++i) cs.push_back(success(ds[i], i));
  cs[2].statements.push_back({"SELECT 1/0", {}});
  group_committer_config cfg;
  cfg.gather_at_least = 4;  // the four workers below make one group
  cfg.gather_deadline = 10s;
  group_committer committer{{dsn, "group-commit-committer"}, cfg};
  std::vector<std::optional<caf::expected<success_outcome>>> answers(4);
  std::vector<std::thread> workers;
  for (int i = 0; i < 4; ++i)
    workers.emplace_back([&, i] { answers[i] = committer.commit(cs[i]); });
  for (auto& w : workers) w.join();
  CAF_CHECK_EQUAL(committer.groups(), 1u);
  CAF_CHECK_EQUAL(committer.deliveries(), 4u);
  for (int i : {0, 1, 3}) CAF_CHECK(*answers[i]);
  CAF_REQUIRE(!*answers[2]);
  CAF_CHECK(describe(answers[2]->error()).find("division by zero") != std::string::npos);
  CAF_CHECK_EQUAL(n("SELECT count(*) FROM public.t"), 3);
  CAF_CHECK_EQUAL(n("SELECT count(*) FROM postbox.barrier_arrivals WHERE group_id = 'g'"), 3);
  CAF_CHECK_EQUAL(n("SELECT count(*) FROM postbox.mailbox WHERE queue = 'q'"), 1);
}

CAF_TEST(a lone delivery commits at once in a group of its own) {
  test::exec(dsn, "CREATE TABLE public.t (k text PRIMARY KEY)");
  auto ds = fan_out(2);
  group_committer committer{{dsn, "group-commit-committer"}};
  auto a = success(ds[0], 0);
  auto b = success(ds[1], 1);
  CAF_CHECK(committer.commit(a));
  CAF_CHECK(committer.commit(b));
  CAF_CHECK_EQUAL(committer.groups(), 2u);
  CAF_CHECK_EQUAL(n("SELECT count(*) FROM public.t"), 2);
  CAF_CHECK(barriers.get("g")->fired);
}

CAF_TEST_FIXTURE_SCOPE_END()

namespace {

struct node_fixture {
  std::string dsn = test::create_migrated_database("group_commit_node");
  std::string dir = test::make_temp_dir("group_commit_node");
  test::webhook_receiver hooks;
  std::string topology = test::write_file(dir + "/topology.yaml", R"(cluster: gcommit
database: { dsn: "${POSTBOX_DSN}" }
queues:
  orchestrator: { visibility_timeout: 2s, poll_interval: 200ms }
  file_batch:   { visibility_timeout: 2s, claim_batch: 4, poll_interval: 200ms }
  callback:     { visibility_timeout: 2s, poll_interval: 200ms }
workflows:
  sums: { processor: checksum, batch_size: 2 }
webhooks: { url: ")" + hooks.url() + R"(" }
reaper: { interval: 1s, stuck_after: 2m }
nodes:
  n1:
    actors:
      - { role: orchestrator, concurrency: 4 }
      - { role: file_batch, concurrency: 4 }
      - { role: callback, concurrency: 2 }
      - { role: outbox }
      - { role: reaper }
)");

  int64_t n(const std::string& sql) const { return test::count(dsn, sql); }

  std::unique_ptr<test::node_process> node(std::vector<std::string> env = {}) {
    auto p = std::make_unique<test::node_process>(topology, "n1", dsn, std::move(env));
    if (!p->start()) CAF_FAIL("cannot start node n1");
    return p;
  }

  std::string submit(const std::string& name, int files) {
    for (int i = 0; i < files; ++i)
      test::write_file(dir + "/" + name + "/f" + std::to_string(i), name + std::to_string(i));
    client c{dsn};
    submit_request req;
    req.workflow = "sums";
    req.paths = {dir + "/" + name};
    req.headers = R"({"on_success": {"queue": "finished", "type": "execution_done"}})";
    auto sub = c.submit(req);
    if (!sub) CAF_FAIL("submit: " << describe(sub.error()));
    return sub->execution_id;
  }

  std::string status(const std::string& id) const {
    return test::scalar(dsn, "SELECT status FROM postbox.executions WHERE id = '" + id + "'");
  }

  /// Sessions of n1's group committer waiting inside COMMIT (held by the trigger).
  int64_t held_commits() const {
    return n(
        "SELECT count(*) FROM pg_stat_activity WHERE application_name LIKE 'postbox-n1/commit/%' "
        "AND wait_event = 'advisory' AND query = 'COMMIT'");
  }
};

// The first two file result inserts fail (a user statement that fails: a sequence is
// not rolled back): in the group's first run, without savepoints, and in its second
// run, with a savepoint per delivery, where it fails alone. n1's group commits that insert arrivals
// wait at COMMIT (a deferred constraint trigger) until the test releases advisory lock 4343,
// showing the arrivals they hold in a sequence (outside the transaction, readable at once).
const char* traps_sql = R"(
CREATE SEQUENCE public.failing_inserts;
CREATE SEQUENCE public.held_arrivals;
CREATE FUNCTION public.fail_first_result() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF nextval('public.failing_inserts') <= 2 THEN
    RAISE EXCEPTION 'a user statement that fails (twice)';
  END IF;
  RETURN NEW;
END $$;
CREATE TRIGGER fail_first_result BEFORE INSERT ON postbox.file_results
  FOR EACH ROW EXECUTE FUNCTION public.fail_first_result();
CREATE FUNCTION public.hold_commit() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF current_setting('application_name') LIKE 'postbox-n1/commit/%' THEN
    -- Every arrival visible here is this transaction's (none committed before).
    PERFORM setval('public.held_arrivals', (SELECT count(*) FROM postbox.barrier_arrivals));
    PERFORM pg_advisory_lock_shared(4343);
    PERFORM pg_advisory_unlock_shared(4343);
  END IF;
  RETURN NULL;
END $$;
CREATE CONSTRAINT TRIGGER hold_commit AFTER INSERT ON postbox.barrier_arrivals
  DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION public.hold_commit();
)";

/// Four executions of 6 files (3 batches each); n1 (4 workers per queue) gathers its
/// groups of 4; the first group of batches is held in COMMIT with one of its four
/// deliveries rolled back to its savepoint (its insert failed); n1 is killed -9 there.
/// `commit_goes_through`: the held COMMIT then completes with no client (else its backend
/// is terminated and it rolls back). n1 restarts without the hooks and finishes.
void kill_during_group_commit(node_fixture& f, bool commit_goes_through) {
  pg_session admin{{f.dsn, "test-admin"}};
  CAF_REQUIRE(!admin.execute_script(traps_sql));
  pg_session holder{{f.dsn, "test-holder"}};
  CAF_REQUIRE(!holder.execute_script("SELECT pg_advisory_lock(4343)"));
  std::vector<std::string> ids;
  for (int e = 0; e < 4; ++e) ids.push_back(f.submit("e" + std::to_string(e), 6));
  auto n1 = f.node({"POSTBOX_TEST_GROUP_COMMIT_GATHER=4"});
  CAF_REQUIRE(test::wait_until([&] { return f.held_commits() == 1; }, 30s));
  // The held group: four batches, one failed in its savepoint, three arriving.
  auto held = [&] { return f.n("SELECT last_value FROM public.held_arrivals"); };
  CAF_REQUIRE(test::wait_until([&] { return held() == 3; }, 5s));
  // The failed insert of each run (its first row), then the three others' two rows each.
  CAF_CHECK_EQUAL(f.n("SELECT last_value FROM public.failing_inserts"), 8);
  CAF_CHECK_EQUAL(f.n("SELECT count(*) FROM postbox.file_results"), 0);
  n1->signal(SIGKILL);
  CAF_CHECK_EQUAL(n1->wait_exit(5s), 128 + SIGKILL);
  if (!commit_goes_through) {
    CAF_CHECK_EQUAL(
        test::scalar(f.dsn,
                     "SELECT count(*) FILTER (WHERE pg_terminate_backend(pid)) FROM "
                     "pg_stat_activity WHERE application_name LIKE 'postbox-n1/commit/%' "
                     "AND wait_event = 'advisory' AND query = 'COMMIT'"),
        "1");
    CAF_REQUIRE(test::wait_until([&] { return f.held_commits() == 0; }, 10s));
  }
  CAF_REQUIRE(!holder.execute_script("SELECT pg_advisory_unlock(4343)"));
  CAF_REQUIRE(test::wait_until([&] { return f.held_commits() == 0; }, 10s));
  // All or nothing of the group, and never the failed delivery's part.
  CAF_CHECK_EQUAL(f.n("SELECT count(*) FROM postbox.barrier_arrivals"),
                  commit_goes_through ? 3 : 0);
  CAF_CHECK_EQUAL(f.n("SELECT count(*) FROM postbox.file_results"), commit_goes_through ? 6 : 0);
  CAF_REQUIRE(!admin.execute_script("DROP TRIGGER hold_commit ON postbox.barrier_arrivals"));

  auto again = f.node();
  CAF_CHECK(test::wait_until(
      [&] {
        for (const auto& id : ids)
          if (f.status(id) != "COMPLETED") return false;
        return true;
      },
      60s, 200ms));
  for (const auto& id : ids) {
    auto where = " WHERE execution_id = '" + id + "'";
    CAF_CHECK_EQUAL(f.n("SELECT count(*) FROM postbox.file_results" + where), 6);
    CAF_CHECK_EQUAL(f.n("SELECT count(DISTINCT file_key) FROM postbox.file_results" + where), 6);
    CAF_CHECK_EQUAL(f.n("SELECT files_done FROM postbox.executions WHERE id = '" + id + "'"), 6);
    CAF_CHECK_EQUAL(f.n("SELECT files_failed FROM postbox.executions WHERE id = '" + id + "'"), 0);
    CAF_CHECK_EQUAL(
        f.n("SELECT count(*) FROM postbox.barrier_arrivals WHERE group_id = '" + id + "'"), 3);
    CAF_CHECK_EQUAL(f.n("SELECT remaining FROM postbox.barriers WHERE group_id = '" + id + "'"), 0);
    CAF_CHECK_EQUAL(f.n("SELECT count(*) FROM postbox.barriers WHERE fired_at IS NOT NULL AND "
                        "group_id = '" +
                        id + "'"),
                    1);
    // Its on_success continuation once (queue 'finished' has no consumer: it stays).
    CAF_CHECK_EQUAL(f.n("SELECT count(*) FROM postbox.mailbox WHERE queue = 'finished' AND "
                        "payload->'result'->>'execution_id' = '" +
                        id + "'"),
                    1);
  }
  CAF_CHECK_EQUAL(f.n("SELECT count(*) FROM postbox.mailbox WHERE queue = 'finished'"), 4);
  CAF_CHECK_EQUAL(f.n("SELECT count(*) FROM postbox.mailbox WHERE queue <> 'finished'"), 0);
  CAF_CHECK_EQUAL(f.n("SELECT count(*) FROM postbox.dead_letters"), 0);
  CAF_CHECK(test::wait_until([&] { return f.hooks.total_posts() >= 4; }, 15s));
  for (const auto& id : ids) CAF_CHECK_EQUAL(f.hooks.posts(id + ":COMPLETED"), 1);
  CAF_CHECK_EQUAL(f.hooks.total_posts(), 4);
}

}  // namespace

CAF_TEST_FIXTURE_SCOPE(group_commit_node_tests, node_fixture)

CAF_TEST(a node killed in a group commit whose commit goes through finishes once) {
  kill_during_group_commit(*this, true);
}

CAF_TEST(a node killed in a group commit whose commit rolls back finishes once) {
  kill_during_group_commit(*this, false);
}

CAF_TEST_FIXTURE_SCOPE_END()

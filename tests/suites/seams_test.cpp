// Where two features meet (issue 20): cancel x continuations, cancel x a handler's own
// writes, groups around a cancelled, stranded or dropped member, retention x live work,
// continuations compared as JSON. Driven step by step in process through handle_delivery,
// as a worker runs it, on the real mailbox; the reaper through run_once().
#define CAF_SUITE seams
#include <boost/json.hpp>
#include <caf/test/unit_test.hpp>
#include <future>
#include <postbox/postbox.hpp>
#include <pqxx/pqxx>
#include <thread>

#include "actors/maintenance/reaper.hpp"
#include "support/node_process.hpp"
#include "support/pipeline_fixture.hpp"
#include "support/values.hpp"

using namespace postbox;
using postbox::test::value_of;
using namespace std::chrono_literals;
namespace json = boost::json;

namespace {

std::string field(const json_text& body, const char* key) {
  auto v = json::parse(body.text);
  auto* p = v.as_object().if_contains(key);
  if (!p) return "";
  return p->is_string() ? std::string(p->as_string()) : json::serialize(*p);
}

/// What the user's handlers on queues `hooks` and `user` do.
registry user_handlers(handler_registry base) {
  registry r(std::move(base));
  // A continuation's handler: its own row, a message it sends, both with its ack.
  auto record = [](context& ctx, const json_text& body) -> outcome {
    ctx.execute("INSERT INTO seen (kind, execution_id, body) VALUES ($1, $2, $3::jsonb)",
                {ctx.type(), field(body, "execution_id"), body.text});
    ctx.send(message_out::json("user", "followup", body.text));
    return outcome::ok(json_text{"true"});
  };
  r.on_json("notify_failed", record);
  r.on_json("notify_done", record);
  r.on_json("chord_done", record);
  r.on_json("followup", [](context& ctx, const json_text&) {
    ctx.execute("INSERT INTO seen (kind) VALUES ('followup')");
    return outcome::ok(json_text{"null"});
  });
  // A chord of workflows: one execute_workflow child per execution id named.
  r.on_json("chord", [](context& ctx, const json_text& body) -> outcome {
    std::vector<message_out> children;
    const auto v = json::parse(body.text);
    for (const auto& id : v.as_object().at("executions").as_array()) {
      execute_workflow w;
      w.execution_id = std::string(id.as_string());
      w.workflow = "counted";
      w.org = "org-1";
      w.files = {"/dev/null"};
      w.batch_size = 1;
      auto m = message_out::json(orchestrator_queue, execute_workflow_type, to_json(w));
      m.execution_id = w.execution_id;
      children.push_back(std::move(m));
    }
    ctx.fan_out(std::move(children), message_out::json("hooks", "chord_done", "{}"));
    return outcome::ok(json_text{"null"});
  });
  // Plain children: "drop" drops itself, anything else answers its name.
  r.on_json("part", [](context&, const json_text& body) -> outcome {
    auto name = field(body, "name");
    if (name == "drop") return outcome::drop("part 'drop' should never have been sent");
    return outcome::ok(json_text{"\"" + name + "\""});
  });
  r.on_json("parts", [](context& ctx, const json_text& body) -> outcome {
    std::vector<message_out> children;
    const auto v = json::parse(body.text);
    for (const auto& n : v.as_object().at("names").as_array())
      children.push_back(
          message_out::json("user", "part", json::serialize(json::object{{"name", n}})));
    auto cb = message_out::json("hooks", "chord_done", "{}");
    // Under the execution its payload names (an on_success handler of that execution).
    cb.execution_id = field(body, "execution_id");
    for (auto& c : children) c.execution_id = cb.execution_id;
    ctx.fan_out(std::move(children), std::move(cb));
    return outcome::ok(json_text{"null"});
  });
  // A group of `n` children whose callback may have to read its results in pages.
  r.on_json("big", [](context& ctx, const json_text& body) -> outcome {
    const auto n = std::stoi(field(body, "n"));
    std::vector<message_out> children;
    children.reserve(static_cast<size_t>(n));
    for (int i = 0; i < n; ++i)
      children.push_back(message_out::json("user", "part", R"({"name": "p"})"));
    ctx.fan_out(std::move(children), message_out::json("hooks", "gather_big", "{}"));
    return outcome::ok(json_text{"null"});
  });
  r.on_json("gather_big", [](context& ctx, const json_text& body) -> outcome {
    int64_t count = 0, ok = 0, bytes = 0, next = 0, pages = 0;
    bool in_order = true;
    if (field(body, "results_paged") == "true") {
      for (int32_t at = 0;;) {
        auto page = ctx.group_results(field(body, "group"), at);
        if (!page) return outcome::from(page.error());
        if (page->empty()) break;
        ++pages;
        for (const auto& c : *page) {
          in_order = in_order && c.index == next++;
          ++count;
          ok += c.ok ? 1 : 0;
          bytes += static_cast<int64_t>(c.result_json.size());
        }
        at = page->back().index + 1;
      }
    } else {
      const auto v = json::parse(body.text);
      for (const auto& c : v.as_object().at("results").as_array()) {
        ++count;
        ok += c.at("status") == "ok" ? 1 : 0;
      }
    }
    ctx.execute("INSERT INTO seen (kind, body) VALUES ('gather_big', $1::jsonb)",
                {json::serialize(json::object{{"count", count},
                                              {"ok", ok},
                                              {"bytes", bytes},
                                              {"pages", pages},
                                              {"in_order", in_order},
                                              {"paged", field(body, "results_paged") == "true"}})});
    return outcome::ok(json_text{"null"});
  });
  // A message of an execution whose step writes, then sleeps in SQL.
  r.on_json("slow_step", [](context& ctx, const json_text&) -> outcome {
    ctx.in_ack([id = ctx.message_id()](sql_tx& tx) -> caf::expected<bool> {
      auto ins = tx.execute("INSERT INTO seen (kind, body) VALUES ('step', $1::jsonb)",
                            {std::to_string(id)});
      if (!ins) return ins.error();
      auto slept = tx.query("SELECT pg_sleep(1)");
      if (!slept) return slept.error();
      return true;
    });
    return outcome::ok(json_text{"null"});
  });
  // A message of an execution that writes at once in a loop until it is refused.
  r.on_json("writer", [](context& ctx, const json_text&) -> outcome {
    for (int i = 0; i < 400; ++i) {
      auto w = ctx.write_now(
          "INSERT INTO seen (kind, body, at) VALUES ('write', $1::jsonb, clock_timestamp())",
          {std::to_string(i)});
      if (!w) return outcome::from(w.error());
      std::this_thread::sleep_for(10ms);
    }
    return outcome::fail("never cancelled");
  });
  return r;
}

struct fixture : test::pipeline_fixture {
  postbox::registry users = user_handlers(pipeline_handlers(registry));
  handler_context user_ctx{session, topo, users, "b/user"};

  fixture() : test::pipeline_fixture("seams") {
    test::exec(dsn,
               "CREATE TABLE seen (kind text, execution_id text, body jsonb, "
               "at timestamptz NOT NULL DEFAULT now())");
  }

  caf::expected<cancel_outcome> cancel(const std::string& id) const {
    pg_session s{session_options{dsn, "canceller"}};
    return execution_store{s}.cancel(id);
  }

  /// Handles what is visible on `queue` with the user's handlers (and the pipeline's).
  int step_user(const std::string& queue) {
    auto got = mailbox.read(queue, 200, 30s, "b/user");
    if (!got) CAF_FAIL("read failed: " << describe(got.error()));
    for (const auto& d : *got) {
      auto r = handle_delivery(user_ctx, d);
      CAF_MESSAGE(d.type << " " << d.id << ": " << to_string(r.what) << " " << r.detail);
      results.push_back(r);
    }
    return static_cast<int>(got->size());
  }

  /// Everything, user queues included, until nothing moves.
  void drain_all() {
    for (int round = 0; round < 100; ++round)
      if (drain() + step_user("user") + step_user("hooks") == 0) return;
    CAF_FAIL("did not drain");
  }

  /// A QUEUED execution of workflow `counted` with one file, created as submit does.
  void create_execution(const std::string& id, const std::string& headers = "{}") {
    test::exec(dsn,
               "INSERT INTO postbox.executions (id, org, workflow, status, batch_size, "
               "files_total, headers) VALUES ('" +
                   id + "', 'org-1', 'counted', 'QUEUED', 1, 1, '" + headers + "')");
  }

  int64_t send(const std::string& queue, const std::string& type, const std::string& payload,
               const std::string& execution_id = "") {
    auto id = mailbox.send({queue, type, execution_id, "org-1", payload, "{}", 0ms});
    if (!id) CAF_FAIL("send: " << describe(id.error()));
    return *id;
  }

  /// The results array of the one chord_done row in `seen`.
  json::array chord_results() {
    CAF_REQUIRE_EQUAL(n("SELECT count(*) FROM seen WHERE kind = 'chord_done'"), 1);
    auto body = json::parse(text("SELECT body::text FROM seen WHERE kind = 'chord_done'"));
    return body.as_object().at("results").as_array();
  }

  reaper_settings quick_reaper() {
    reaper_settings s;
    s.stuck_after = 1ms;
    return s;
  }
};

}  // namespace

CAF_TEST_FIXTURE_SCOPE(seams_tests, fixture)

// -- 1. continuations of an ended execution are new work --------------------------------

CAF_TEST(the on_error handler of a cancelled execution commits its writes and sends once) {
  submit("e-c", "counted", dir.files(4), 2, test::continuation_headers(false, true));
  CAF_CHECK_EQUAL(step(orchestrator_queue), 1);
  CAF_REQUIRE(cancel("e-c"));
  // Outside the execution: no execution_id in the envelope, the payload names it.
  CAF_CHECK_EQUAL(n("SELECT count(*) FROM postbox.mailbox WHERE type = 'notify_failed' AND "
                    "execution_id IS NULL AND payload->>'execution_id' = 'e-c'"),
                  1);
  drain_all();
  CAF_CHECK_EQUAL(n("SELECT count(*) FROM seen WHERE kind = 'notify_failed' AND execution_id = "
                    "'e-c' AND body->>'error' = 'cancelled'"),
                  1);
  // Its send committed too, and its handler committed in turn: it is not part of the
  // stopped execution either.
  CAF_CHECK_EQUAL(n("SELECT count(*) FROM seen WHERE kind = 'followup'"), 1);
  CAF_CHECK_EQUAL(n("SELECT count(*) FROM seen"), 2);
  CAF_CHECK_EQUAL(status("e-c"), "STOPPED");
}

CAF_TEST(on_success of a completed and on_error of a poisoned execution commit their writes) {
  submit("e-ok", "counted", dir.files(2), 2, test::continuation_headers(true, true));
  submit("e-bad", "counted", dir.files(2), 1, test::continuation_headers(true, true));
  CAF_CHECK_EQUAL(step(orchestrator_queue), 2);
  // e-bad's two batches crash their node every time: both poisoned.
  for (int i = 0; i < 3; ++i)
    for (const auto& d : hold(file_batch_queue, 10))
      if (d.execution_id == "e-bad") {
        auto f = mailbox.fail(d.to_lease(), 0ms, "segfault");
        if (!f) CAF_FAIL("fail: " << describe(f.error()));
      } else
        CAF_REQUIRE(!mailbox.nack(d.to_lease(), 0ms, ""));
  drain_all();
  CAF_CHECK_EQUAL(status("e-ok"), "COMPLETED");
  CAF_CHECK_EQUAL(status("e-bad"), "ERROR");
  CAF_CHECK_EQUAL(
      n("SELECT count(*) FROM seen WHERE kind = 'notify_done' AND execution_id = 'e-ok'"), 1);
  CAF_CHECK_EQUAL(
      n("SELECT count(*) FROM seen WHERE kind = 'notify_failed' AND execution_id = 'e-bad'"), 1);
  CAF_CHECK_EQUAL(n("SELECT count(*) FROM seen WHERE kind <> 'followup'"), 2);
}

CAF_TEST(a message 's own continuation stays in its execution and its poison' s goes outside) {
  create_execution("e-m");
  test::exec(dsn, "UPDATE postbox.executions SET status = 'EXECUTING' WHERE id = 'e-m'");
  // A step of the execution with its own on_success: that continuation is a step too.
  message_headers h;
  h.has_on_success = true;
  h.on_success = continuation{"hooks", "notify_done", "{}"};
  h.has_on_error = true;
  h.on_error = continuation{"hooks", "notify_failed", "{}"};
  auto ok = mailbox.send({"user", "part", "e-m", "org-1", R"({"name": "a"})", to_json(h), 0ms});
  CAF_REQUIRE(ok);
  CAF_CHECK_EQUAL(step_user("user"), 1);
  CAF_CHECK_EQUAL(n("SELECT count(*) FROM postbox.mailbox WHERE type = 'notify_done' AND "
                    "execution_id = 'e-m' AND payload->>'execution_id' = 'e-m'"),
                  1);
  // Its poison ends the execution: the on_error it fires is outside it, and says which.
  auto bad = mailbox.send({"user", "part", "e-m", "org-1", R"({"name": 5})", to_json(h), 0ms});
  CAF_REQUIRE(bad);
  auto got = mailbox.read("user", 1, 30s, "b/user");
  CAF_REQUIRE(got && got->size() == 1);
  CAF_CHECK_EQUAL(to_string(poison(user_ctx, got->front(), "bad part").what),
                  std::string("dead_lettered"));
  CAF_CHECK_EQUAL(status("e-m"), "ERROR");
  CAF_CHECK_EQUAL(n("SELECT count(*) FROM postbox.mailbox WHERE type = 'notify_failed' AND "
                    "execution_id IS NULL AND payload->>'execution_id' = 'e-m'"),
                  1);
  // Its handler runs and commits, and a continuation of it still names the execution.
  drain_all();
  CAF_CHECK_EQUAL(n("SELECT count(*) FROM seen WHERE kind = 'notify_failed' AND execution_id = "
                    "'e-m'"),
                  1);
}

// -- 2. nothing of a cancelled execution commits after the cancel -------------------------

CAF_TEST(an in_ack step of a delivery waiting on a cancel in progress never runs) {
  create_execution("e-s");
  test::exec(dsn, "UPDATE postbox.executions SET status = 'EXECUTING' WHERE id = 'e-s'");
  send("user", "slow_step", "{}", "e-s");
  auto held = mailbox.read("user", 1, 30s, "b/user");
  CAF_REQUIRE(held && held->size() == 1);
  // A cancel open in a SQL session holds the fence; the ack waits for it.
  pqxx::connection c{dsn};
  pqxx::work w{c};
  w.exec("SELECT postbox.cancel('e-s')");
  auto done =
      std::async(std::launch::async, [&] { return handle_delivery(user_ctx, held->front()); });
  CAF_REQUIRE(test::wait_until(
      [&] {
        return n("SELECT count(*) FROM pg_stat_activity WHERE wait_event = 'advisory' AND "
                 "datname = current_database()") == 1;
      },
      10s, 5ms));
  w.commit();
  auto r = done.get();
  CAF_CHECK_EQUAL(to_string(r.what), std::string("acked"));
  CAF_CHECK_EQUAL(n("SELECT count(*) FROM seen WHERE kind = 'step'"), 0);
  CAF_CHECK_EQUAL(queued("user"), 0);
}

CAF_TEST(a cancel waits for a step that has begun and nothing commits after it) {
  create_execution("e-s2");
  test::exec(dsn, "UPDATE postbox.executions SET status = 'EXECUTING' WHERE id = 'e-s2'");
  send("user", "slow_step", "{}", "e-s2");
  auto held = mailbox.read("user", 1, 30s, "b/user");
  CAF_REQUIRE(held && held->size() == 1);
  auto done =
      std::async(std::launch::async, [&] { return handle_delivery(user_ctx, held->front()); });
  CAF_REQUIRE(test::wait_until(
      [&] {
        return n("SELECT count(*) FROM pg_stat_activity WHERE wait_event = 'PgSleep' AND "
                 "datname = current_database()") == 1;
      },
      10s, 5ms));
  // The step has inserted and sleeps: the cancel waits for its commit, never the reverse
  // (a cancel committing now would see the step's row commit after it).
  auto r = cancel("e-s2");
  CAF_REQUIRE(r);
  CAF_CHECK(r->cancelled);
  CAF_CHECK(done.wait_for(0s) == std::future_status::ready);
  CAF_CHECK_EQUAL(to_string(done.get().what), std::string("acked"));
  CAF_CHECK_EQUAL(n("SELECT count(*) FROM seen WHERE kind = 'step'"), 1);
}

CAF_TEST(write_now in a loop across a cancel writes nothing after the cancel) {
  create_execution("e-w");
  test::exec(dsn, "UPDATE postbox.executions SET status = 'EXECUTING' WHERE id = 'e-w'");
  send("user", "writer", "{}", "e-w");
  auto held = mailbox.read("user", 1, 30s, "b/user");
  CAF_REQUIRE(held && held->size() == 1);
  auto done =
      std::async(std::launch::async, [&] { return handle_delivery(user_ctx, held->front()); });
  CAF_REQUIRE(test::wait_until([&] { return n("SELECT count(*) FROM seen") >= 5; }, 10s, 5ms));
  CAF_REQUIRE(cancel("e-w"));
  const std::string after_cancel = text("SELECT clock_timestamp()::text");
  auto r = done.get();
  // Refused, then acked without a charge: the message is gone, nothing dead-lettered.
  CAF_CHECK_EQUAL(to_string(r.what), std::string("acked"));
  CAF_CHECK_EQUAL(queued("user"), 0);
  CAF_CHECK_EQUAL(n("SELECT count(*) FROM postbox.dead_letters"), 0);
  CAF_CHECK(n("SELECT count(*) FROM seen") >= 5);
  // Every row was written before the cancel returned (a write the cancel waited for
  // committed before it); none after.
  CAF_CHECK_EQUAL(n("SELECT count(*) FROM seen WHERE at >= '" + after_cancel + "'"), 0);
}

CAF_TEST(an orchestration sent with no execution in its envelope waits for a cancel) {
  create_execution("e-env");
  execute_workflow w;
  w.execution_id = "e-env";
  w.workflow = "counted";
  w.org = "org-1";
  w.files = {"/dev/null"};
  w.batch_size = 1;
  send(orchestrator_queue, execute_workflow_type, to_json(w));  // no envelope execution_id
  auto held = mailbox.read(orchestrator_queue, 1, 30s, "a/test");
  CAF_REQUIRE(held && held->size() == 1);
  pqxx::connection c{dsn};
  pqxx::work w_cancel{c};
  w_cancel.exec("SELECT postbox.cancel('e-env')");
  auto done = std::async(std::launch::async, [&] { return handle_delivery(ctx, held->front()); });
  CAF_REQUIRE(test::wait_until(
      [&] {
        return n("SELECT count(*) FROM pg_stat_activity WHERE wait_event = 'advisory' AND "
                 "datname = current_database()") == 1;
      },
      10s, 5ms));
  w_cancel.commit();  // no deadlock: the start waited on the fence, before any row
  auto r = done.get();
  CAF_CHECK_EQUAL(to_string(r.what), std::string("acked"));
  CAF_CHECK_EQUAL(status("e-env"), "STOPPED");
  CAF_CHECK_EQUAL(queued(file_batch_queue), 0);
  CAF_CHECK_EQUAL(n("SELECT count(*) FROM postbox.barriers"), 0);
}

// -- 3. every member of a group arrives, however it ended -------------------------------

CAF_TEST(a chord of workflows fires when one of them is cancelled while running) {
  create_execution("e-1");
  create_execution("e-2");
  send("user", "chord", R"({"executions": ["e-1", "e-2"]})");
  CAF_CHECK_EQUAL(step_user("user"), 1);
  CAF_CHECK_EQUAL(step(orchestrator_queue), 2);  // both start their batches
  CAF_REQUIRE(cancel("e-2"));
  drain_all();
  CAF_CHECK_EQUAL(status("e-1"), "COMPLETED");
  CAF_CHECK_EQUAL(status("e-2"), "STOPPED");
  auto results = chord_results();
  CAF_REQUIRE_EQUAL(results.size(), 2u);
  CAF_CHECK_EQUAL(results[0].at("status"), "ok");
  CAF_CHECK_EQUAL(results[1].at("status"), "error");
  CAF_CHECK_EQUAL(results[1].at("error"), "cancelled");
  CAF_CHECK_EQUAL(n("SELECT count(*) FROM postbox.barriers WHERE fired_at IS NULL"), 0);
}

CAF_TEST(a chord of workflows fires when one is cancelled before it started) {
  create_execution("e-3");
  create_execution("e-4");
  send("user", "chord", R"({"executions": ["e-3", "e-4"]})");
  CAF_CHECK_EQUAL(step_user("user"), 1);
  CAF_REQUIRE(cancel("e-4"));
  drain_all();
  auto results = chord_results();
  CAF_REQUIRE_EQUAL(results.size(), 2u);
  CAF_CHECK_EQUAL(results[0].at("status"), "ok");
  CAF_CHECK_EQUAL(results[1].at("error"), "cancelled");
}

CAF_TEST(a chord of workflows fires when one of them is stranded) {
  create_execution("e-5");
  create_execution("e-6");
  send("user", "chord", R"({"executions": ["e-5", "e-6"]})");
  CAF_CHECK_EQUAL(step_user("user"), 1);
  CAF_CHECK_EQUAL(step(orchestrator_queue), 2);
  // e-6's batch is lost (deleted by hand: what no ack, dead letter or cancel did).
  test::exec(dsn, "DELETE FROM postbox.mailbox WHERE execution_id = 'e-6'");
  drain_all();
  CAF_CHECK_EQUAL(status("e-5"), "COMPLETED");
  CAF_CHECK_EQUAL(n("SELECT count(*) FROM seen WHERE kind = 'chord_done'"), 0);
  test::exec(dsn,
             "UPDATE postbox.executions SET updated_at = now() - interval '1 hour';"
             "UPDATE postbox.barriers SET updated_at = now() - interval '1 hour'");
  reaper sweeper{session, quick_reaper(), "a"};
  auto c = value_of(sweeper.run_once());
  CAF_CHECK_EQUAL(c.stranded_failed, 1);
  CAF_CHECK_EQUAL(c.members_arrived, 1);  // e-6's batch, at e-6's own group
  CAF_CHECK_EQUAL(status("e-6"), "ERROR");
  drain_all();
  auto results = chord_results();
  CAF_REQUIRE_EQUAL(results.size(), 2u);
  CAF_CHECK_EQUAL(results[0].at("status"), "ok");
  CAF_CHECK_EQUAL(results[1].at("status"), "error");
  const std::string reason = text("SELECT error FROM postbox.executions WHERE id = 'e-6'");
  CAF_CHECK_EQUAL(results[1].at("error"), reason.c_str());
  // A second sweep finds nothing more.
  CAF_CHECK_EQUAL(value_of(sweeper.run_once()).members_arrived, 0);
}

CAF_TEST(a dropped member and a lost member arrive with their reasons) {
  send("user", "parts", R"({"names": ["a", "drop", "lost"]})");
  CAF_CHECK_EQUAL(step_user("user"), 1);
  test::exec(dsn, "DELETE FROM postbox.mailbox WHERE payload->>'name' = 'lost'");
  drain_all();
  CAF_CHECK_EQUAL(n("SELECT count(*) FROM seen WHERE kind = 'chord_done'"), 0);
  test::exec(dsn, "UPDATE postbox.barriers SET updated_at = now() - interval '1 hour'");
  reaper sweeper{session, quick_reaper(), "a"};
  CAF_CHECK_EQUAL(value_of(sweeper.run_once()).members_arrived, 1);
  drain_all();
  auto results = chord_results();
  CAF_REQUIRE_EQUAL(results.size(), 3u);
  CAF_CHECK_EQUAL(results[0].at("result"), "a");
  CAF_CHECK_EQUAL(results[1].at("status"), "error");
  CAF_CHECK(test::contains(std::string(results[1].at("error").as_string()), "should never"));
  CAF_CHECK(test::contains(std::string(results[2].at("error").as_string()), "lost: message"));
}

CAF_TEST(groups waiting on a backlog do not keep a group with a lost member from its turn) {
  // 25 groups whose children only wait in the mailbox, older than the one that lost one.
  for (int i = 0; i < 25; ++i) send("user", "parts", R"({"names": ["w"]})");
  CAF_CHECK_EQUAL(step_user("user"), 25);
  test::exec(dsn, "UPDATE postbox.barriers SET updated_at = now() - interval '2 hours'");
  send("user", "parts", R"({"names": ["lost"]})");
  auto got = mailbox.read("user", 100, 30s, "b/user");
  CAF_REQUIRE(got);
  for (const auto& d : *got)
    if (d.type == "parts")
      handle_delivery(user_ctx, d);
    else
      CAF_REQUIRE(!mailbox.nack(d.to_lease(), 0ms, ""));
  test::exec(dsn,
             "DELETE FROM postbox.mailbox WHERE payload->>'name' = 'lost';"
             "UPDATE postbox.barriers SET updated_at = now() - interval '1 hour' "
             "WHERE updated_at > now() - interval '1 hour'");
  reaper sweeper{session, quick_reaper(), "a"};
  CAF_CHECK_EQUAL(value_of(sweeper.run_once()).members_arrived, 0);  // 20 oldest: nothing
  // The examined groups' turn is over once the quiet period has passed again.
  test::exec(dsn, "UPDATE postbox.barriers SET swept_at = swept_at - interval '1 minute'");
  CAF_CHECK_EQUAL(value_of(sweeper.run_once()).members_arrived, 1);  // its turn came
  CAF_CHECK_EQUAL(queued("hooks"), 1);
}

// -- 4. retention never deletes what is in use --------------------------------------------

CAF_TEST(retention keeps an ERROR execution until its leftover batches are gone) {
  submit("e-r", "counted", dir.files(20), 1, test::continuation_headers(false, true));
  CAF_CHECK_EQUAL(step(orchestrator_queue), 1);
  // One batch poisoned at once (rejected), 19 still queued.
  auto first = hold(file_batch_queue, 1);
  CAF_REQUIRE_EQUAL(first.size(), 1u);
  CAF_REQUIRE_EQUAL(to_string(poison(ctx, first[0], "bad batch").what),
                    std::string("dead_lettered"));
  CAF_REQUIRE_EQUAL(status("e-r"), "ERROR");
  CAF_REQUIRE_EQUAL(queued(file_batch_queue), 19);
  reaper_settings s;
  s.failed_retention = 1ms;
  test::exec(dsn, "UPDATE postbox.executions SET finished_at = now() - interval '1 hour'");
  reaper sweeper{session, s, "a"};
  CAF_CHECK_EQUAL(value_of(sweeper.run_once()).executions_pruned, 0);
  CAF_CHECK_EQUAL(n("SELECT count(*) FROM postbox.executions WHERE id = 'e-r'"), 1);
  drain_all();
  CAF_CHECK_EQUAL(n("SELECT count(*) FROM postbox.dead_letters"), 1);
  CAF_CHECK_EQUAL(n("SELECT count(*) FROM seen WHERE kind = 'notify_failed'"), 1);
  CAF_CHECK_EQUAL(n("SELECT count(*) FROM postbox.barriers WHERE fired_at IS NULL"), 0);
  // Its group fired (every batch arrived), nothing of it is queued: now it goes.
  CAF_CHECK_EQUAL(value_of(sweeper.run_once()).executions_pruned, 1);
  CAF_CHECK_EQUAL(n("SELECT count(*) FROM postbox.executions WHERE id = 'e-r'"), 0);
}

CAF_TEST(retention keeps a completed execution while a group under its id is open) {
  submit("e-g", "counted", dir.files(2), 2);
  drain();
  CAF_REQUIRE_EQUAL(status("e-g"), "COMPLETED");
  // Work sent under the completed execution's id (as its on_success handler or a SQL
  // caller may): it fans out a group of that execution.
  send("user", "parts", R"({"names": ["x", "y"]})", "e-g");
  CAF_CHECK_EQUAL(step_user("user"), 1);
  CAF_REQUIRE_EQUAL(
      n("SELECT count(*) FROM postbox.barriers WHERE execution_id = 'e-g' AND fired_at IS NULL"),
      1);
  reaper_settings s;
  s.completed_retention = 1ms;
  test::exec(dsn, "UPDATE postbox.executions SET finished_at = now() - interval '1 hour'");
  reaper sweeper{session, s, "a"};
  CAF_CHECK_EQUAL(value_of(sweeper.run_once()).executions_pruned, 0);
  drain_all();
  auto results = chord_results();
  CAF_REQUIRE_EQUAL(results.size(), 2u);
  CAF_CHECK_EQUAL(results[1].at("result"), "y");
  CAF_CHECK_EQUAL(value_of(sweeper.run_once()).executions_pruned, 1);
}

// -- 5. continuations compared as JSON, not as text ---------------------------------------

CAF_TEST(two poisoned batches of an sql submit send its on_error once whatever the numbers) {
  test::exec(dsn,
             "INSERT INTO postbox.workflows (name, processor, batch_size, recorded_by) "
             "VALUES ('counted', 'counted', 1, 'test')");
  const auto files = dir.files(2);
  const std::string id =
      text("SELECT postbox.submit('counted', ARRAY['" + files[0] + "', '" + files[1] +
           R"('], 1, 'org-1', '{"on_error": {"queue": "hooks", "type": "notify_failed", )"
           R"x("payload": {"x": 5.0, "big": 1e2, "n": 12345678901234567890123, "s": "a"}}}'))x");
  CAF_CHECK_EQUAL(step(orchestrator_queue), 1);
  for (const auto& d : hold(file_batch_queue, 10))
    CAF_REQUIRE_EQUAL(to_string(poison(ctx, d, "bad batch").what), std::string("dead_lettered"));
  CAF_CHECK_EQUAL(status(id), "ERROR");
  CAF_CHECK_EQUAL(n("SELECT count(*) FROM postbox.dead_letters"), 2);
  CAF_CHECK_EQUAL(n("SELECT count(*) FROM postbox.mailbox WHERE type = 'notify_failed'"), 1);
}

// -- 6. a group's results scale with the group ------------------------------------------

CAF_TEST(a group of 100000 children with 3 KB results fires once and its callback reads all) {
  const int n_children = 100000;
  send("user", "big", R"({"n": 100000})");
  CAF_CHECK_EQUAL(step_user("user"), 1);
  CAF_REQUIRE_EQUAL(queued("user"), n_children);
  const std::string group = text("SELECT group_id FROM postbox.barriers");
  // Every child but the first ends with a 3 KB result (written as their acks would:
  // arrival rows, messages gone, shard counters down), so that only the real arrival
  // of child 0 fires the group. Their results together are past jsonb's ~256 MB.
  test::exec(dsn,
             "INSERT INTO postbox.barrier_arrivals (group_id, child_index, status, result, "
             "message_id) SELECT '" +
                 group +
                 "', i, 'ok', to_jsonb((SELECT string_agg(md5(i::text || '.' || j), '') "
                 "FROM generate_series(1, 94) j)), NULL FROM generate_series(1, " +
                 std::to_string(n_children - 1) + ") i");
  test::exec(dsn,
             "DELETE FROM postbox.mailbox WHERE queue = 'user' AND (headers->'group'->>'index')"
             "::int > 0;"
             "UPDATE postbox.barrier_shards SET remaining = CASE WHEN shard = 0 THEN 1 ELSE 0 "
             "END WHERE group_id = '" +
                 group + "';" + "UPDATE postbox.barriers SET remaining = 1 WHERE group_id = '" +
                 group + "'");
  CAF_REQUIRE_EQUAL(queued("user"), 1);
  CAF_CHECK_EQUAL(step_user("user"), 1);  // child 0: its arrival fires the group
  CAF_CHECK_EQUAL(to_string(results.back().what), std::string("acked"));
  CAF_REQUIRE_EQUAL(n("SELECT count(*) FROM postbox.mailbox WHERE type = 'gather_big'"), 1);
  CAF_CHECK_EQUAL(n("SELECT count(*) FROM postbox.mailbox WHERE type = 'gather_big' AND "
                    "payload->>'results_paged' = 'true' AND payload->>'results_count' = "
                    "'100000' AND NOT payload ? 'results'"),
                  1);
  CAF_CHECK_EQUAL(step_user("hooks"), 1);
  CAF_CHECK_EQUAL(to_string(results.back().what), std::string("acked"));
  auto got = json::parse(text("SELECT body::text FROM seen WHERE kind = 'gather_big'"));
  CAF_CHECK_EQUAL(got.at("count").as_int64(), n_children);
  CAF_CHECK_EQUAL(got.at("ok").as_int64(), n_children);
  CAF_CHECK_EQUAL(got.at("in_order").as_bool(), true);
  CAF_CHECK_EQUAL(got.at("pages").as_int64(), 100);
  // 99,999 results of 3,008 characters and their quotes, plus child 0's "p".
  CAF_CHECK_EQUAL(got.at("bytes").as_int64(), int64_t{99999} * 3010 + 3);
  CAF_CHECK_EQUAL(n("SELECT count(*) FROM postbox.dead_letters"), 0);
}

CAF_TEST(a small group still carries its results inline) {
  send("user", "big", R"({"n": 3})");
  drain_all();
  auto got = json::parse(text("SELECT body::text FROM seen WHERE kind = 'gather_big'"));
  CAF_CHECK_EQUAL(got.at("paged").as_bool(), false);
  CAF_CHECK_EQUAL(got.at("count").as_int64(), 3);
  CAF_CHECK_EQUAL(got.at("ok").as_int64(), 3);
}

CAF_TEST_FIXTURE_SCOPE_END()

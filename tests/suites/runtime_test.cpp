// The public runtime API in process: a user type in a test registry, its own table
// committed with the ack, continuations on every path, and fan-out/fan-in with
// redeliveries and a nested group. Handlers run through handle_delivery exactly as
// a worker runs them; deliveries come from the real mailbox.
#define CAF_SUITE runtime
#include <algorithm>
#include <boost/json.hpp>
#include <caf/test/unit_test.hpp>
#include <limits>
#include <postbox/postbox.hpp>
#include <stdexcept>
#include <thread>

#include "actors/runtime/dispatch.hpp"
#include "config/topology.hpp"
#include "messages/json_codec.hpp"
#include "messages/storable_json.hpp"
#include "persistence/mailbox_store.hpp"
#include "persistence/user_sql.hpp"
#include "support/pg_fixture.hpp"
#include "support/values.hpp"

using namespace postbox;
using namespace std::chrono_literals;
using postbox::test::value_of;

namespace postbox::test {
inline bool contains(const std::string& haystack, const std::string& needle) {
  return haystack.find(needle) != std::string::npos;
}
}  // namespace postbox::test

namespace {

/// A user message: store `text` under `key` in the test's own table.
struct note {
  std::string key;
  std::string text;
  int32_t n = 0;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, note& x) {
  return f(caf::meta::type_name("note"), field("key", x.key), field("text", x.text),
           field("n", x.n));
}

/// A fan-out: `n` squares, and a nested group of `nested` squares as child 0.
struct spread {
  int32_t n = 0;
  int32_t nested = 0;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, spread& x) {
  return f(caf::meta::type_name("spread"), field("n", x.n), field("nested", x.nested));
}

struct square {
  int32_t n = 0;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, square& x) {
  return f(caf::meta::type_name("square"), field("n", x.n));
}

/// A fan-out of `n` squares under a group id of the caller's choosing.
struct named_spread {
  std::string group;
  int32_t n = 0;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, named_spread& x) {
  return f(caf::meta::type_name("named_spread"), field("group", x.group), field("n", x.n));
}

struct gathered {
  std::string label;
  std::string group;
  json_text results;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, gathered& x) {
  return f(caf::meta::type_name("gathered"), field("label", x.label), field("group", x.group),
           field("results", x.results));
}

/// Reads a user table with `SELECT *` and logs its width with `RETURNING *`: both
/// prepared statements break when a schema change adds a column.
struct probe {
  std::string key;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, probe& x) {
  return f(caf::meta::type_name("probe"), field("key", x.key));
}

outcome run_probe(context& ctx, const probe& x) {
  auto rows = ctx.query("SELECT * FROM shape");
  if (!rows) return outcome::from(rows.error());
  ctx.execute("INSERT INTO shape_seen (key, width) VALUES ($1, $2::int) RETURNING *",
              {x.key, std::to_string(rows->at(0).size())});
  return {};
}

outcome write_note(context& ctx, const note& x) {
  if (x.text == "fail") return outcome::fail("refused to store '" + x.key + "'");
  if (x.text == "throw") throw std::runtime_error("note handler blew up");
  if (x.text == "reject") return outcome::reject("bad note " + x.key);
  if (x.text == "nul") return outcome::ok(json_text{"{\"a\": \"x\\u0000y\"}"});
  if (x.text == "decline") {
    // A guard in the ack's transaction that says no: ack only, no effects.
    ctx.in_ack([](sql_tx& tx) -> caf::expected<bool> {
      auto rows = tx.query("SELECT count(*) FROM notes");
      if (!rows) return rows.error();
      tx.note("declined: " + rows->at(0).at(0).value_or("?") + " notes");
      return false;
    });
    ctx.execute("INSERT INTO notes (key, text) VALUES ($1, $2)", {x.key, x.text});
    return outcome::ok(json_text{"{\"stored\": \"" + x.key + "\"}"});
  }
  ctx.execute("INSERT INTO notes (key, text) VALUES ($1, $2)", {x.key, x.text});
  return outcome::ok(json_text{"{\"stored\": \"" + x.key + "\"}"});
}

outcome run_spread(context& ctx, const spread& x) {
  std::vector<message_out> children;
  if (x.nested == -2) {  // two notes as children, the second one declines
    children.push_back(message_out::of("notes", note{"n1", "kept", 0}));
    children.push_back(message_out::of("notes", note{"n2", "decline", 0}));
    ctx.fan_out(std::move(children), message_out::of("gather", gathered{"notes", "", {}}));
    return {};
  }
  for (int32_t i = 0; i < x.n; ++i) {
    if (i == 0 && x.nested != 0)  // a nested group; nested < 0: one with no children
      children.push_back(message_out::of("work", spread{std::max(x.nested, 0), 0}));
    else
      children.push_back(message_out::of("work", square{i}));
  }
  ctx.fan_out(std::move(children),
              message_out::of("gather", gathered{x.nested != 0 ? "outer" : "inner", "", {}}));
  return {};
}

outcome run_named_spread(context& ctx, const named_spread& x) {
  std::vector<message_out> children;
  for (int32_t i = 0; i < x.n; ++i) children.push_back(message_out::of("work", square{i}));
  ctx.execute("INSERT INTO notes (key, text) VALUES ($1, 'spread')",
              {x.group + "/" + std::to_string(ctx.message_id())});
  ctx.fan_out(std::move(children), message_out::of("gather", gathered{x.group, "", {}}), x.group);
  return {};
}

outcome run_square(context& ctx, const square& x) {
  if (x.n == 13) return outcome::reject("13 is unlucky");
  (void)ctx;
  return outcome::ok(json_text{std::to_string(x.n * x.n)});
}

outcome run_gathered(context& ctx, const gathered& x) {
  ctx.execute("INSERT INTO gathered (label, grp, results) VALUES ($1, $2, $3::jsonb)",
              {x.label, x.group, x.results.text});
  auto v = boost::json::parse(x.results.text);
  int64_t sum = 0;
  for (const auto& r : v.as_array())
    if (r.at("status") == "ok" && r.at("result").is_int64()) sum += r.at("result").as_int64();
  return outcome::ok(json_text{std::to_string(sum)});
}

topology runtime_topology() {
  auto t = load_topology_string(R"(database: {dsn: 'x'}
queues:
  notes: {visibility_timeout: 30s, max_attempts: 2, max_handler_time: 5s}
  work: {visibility_timeout: 30s, max_attempts: 3}
  gather: {visibility_timeout: 30s, max_attempts: 3}
  shapes: {visibility_timeout: 30s, max_attempts: 1}
nodes:
  a:
    actors:
      - {queue: notes}
      - {queue: work}
      - {queue: gather}
      - {queue: hooks}
      - {queue: shapes}
)",
                                "runtime.yaml");
  if (!t) throw std::runtime_error("topology: " + describe(t.error()));
  return std::move(*t);
}

registry test_registry() {
  registry r;
  r.on<note>("notes", write_note)
      .on<spread>(run_spread)
      .on<square>(run_square)
      .on<named_spread>(run_named_spread)
      .on<gathered>(run_gathered)
      .on<probe>("shapes", run_probe);
  return r;
}

struct fixture {
  std::string dsn = test::create_migrated_database("runtime");
  topology topo = runtime_topology();
  handler_registry handlers = test_registry();
  pg_session session{session_options{dsn, "runtime-test"}};
  handler_context ctx{session, topo, handlers, "a/notes/w0"};
  mailbox_store mailbox{session};

  fixture() {
    test::exec(dsn,
               "CREATE TABLE notes (key text PRIMARY KEY, text text NOT NULL);"
               "CREATE TABLE gathered (label text, grp text, results jsonb)");
  }

  int64_t send(const std::string& queue, const std::string& type, const std::string& payload,
               const std::string& headers = "{}") {
    auto id = mailbox.send({queue, type, "", "org-1", payload, headers, 0ms});
    if (!id) CAF_FAIL("send: " << describe(id.error()));
    return *id;
  }

  /// Continuation headers to queue `hooks` with the caller's payload {"ticket": 7}.
  static std::string hooks() {
    message_headers h;
    h.has_on_success = true;
    h.on_success = continuation{"hooks", "done", R"({"ticket":7})"};
    h.has_on_error = true;
    h.on_error = continuation{"hooks", "failed", R"({"ticket":7})"};
    return to_json(h);
  }

  std::vector<delivery> read(const std::string& queue, int max = 500,
                             std::chrono::milliseconds vt = 30s) {
    auto got = mailbox.read(queue, max, vt, "a/" + queue);
    if (!got) CAF_FAIL("read: " << describe(got.error()));
    return std::move(*got);
  }

  /// Reads `queue` and handles it like a consumer: past max_attempts is poisoned.
  std::vector<handler_result> step(const std::string& queue) {
    std::vector<handler_result> out;
    for (const auto& d : read(queue)) {
      auto max = topo.queue(queue).max_attempts;
      out.push_back(attempts_exhausted(d, max) ? poison(ctx, d, attempts_exhausted_reason(d, max))
                                               : handle_delivery(ctx, d));
      CAF_MESSAGE(d.type << " " << d.id << ": " << to_string(out.back().what) << " "
                         << out.back().detail);
    }
    return out;
  }

  /// Makes every message of `queue` visible now (skips retry backoff).
  void wake(const std::string& queue) {
    test::exec(dsn, "UPDATE postbox.mailbox SET visible_at = now() WHERE queue = '" + queue + "'");
  }

  long long n(const std::string& sql) { return test::count(dsn, sql); }
  std::string text(const std::string& sql) { return test::scalar(dsn, sql); }

  /// The one payload on `hooks` of `type` (fails the test unless exactly one).
  boost::json::object hook(const std::string& type) {
    CAF_REQUIRE_EQUAL(
        n("SELECT count(*) FROM postbox.mailbox WHERE queue = 'hooks' AND type = '" + type + "'"),
        1);
    return boost::json::parse(text("SELECT payload::text FROM postbox.mailbox WHERE queue = "
                                   "'hooks' AND type = '" +
                                   type + "'"))
        .as_object();
  }
  long long hooks_sent() { return n("SELECT count(*) FROM postbox.mailbox WHERE queue = 'hooks'"); }
};

}  // namespace

CAF_TEST(a described struct round trips through JSON and names a bad field) {
  note x{"k", "hello \"world\"", 42};
  auto text = encode_json(x);
  CAF_CHECK_EQUAL(text, R"({"key":"k","text":"hello \"world\"","n":42})");
  auto back = decode_json<note>(text);
  CAF_REQUIRE(back);
  CAF_CHECK_EQUAL(back->text, x.text);
  CAF_CHECK_EQUAL(back->n, 42);
  CAF_CHECK_EQUAL(type_name_of<note>(), "note");
  auto bad = decode_json<note>(R"({"key": 5})");
  CAF_REQUIRE(!bad);
  CAF_CHECK(test::contains(describe(bad.error()), "field 'key': expected string"));
  auto range = decode_json<note>(R"({"n": 99999999999})");
  CAF_REQUIRE(!range);
  CAF_CHECK(test::contains(describe(range.error()), "field 'n'"));
  // JSON writers that send integers as 3.0 are understood; 3.5 is not an integer.
  CAF_CHECK_EQUAL(value_of(decode_json<note>(R"({"n": 3.0})")).n, 3);
  CAF_CHECK(!decode_json<note>(R"({"n": 3.5})"));
  // What jsonb cannot hold never reaches it: Infinity, U+0000, invalid UTF-8.
  CAF_CHECK_EQUAL(storable_json("[1e400]"), "[null]");
  CAF_CHECK_EQUAL(storable_json(R"({"a":"x\u0000y"})"), "{\"a\":\"x\xEF\xBF\xBDy\"}");
  CAF_CHECK_EQUAL(storable_json("not json \xff"), "\"not json \xEF\xBF\xBD\"");
  // Missing members keep their defaults; CAF sees the same struct.
  CAF_CHECK_EQUAL(value_of(decode_json<note>("{}")).n, 0);
  CAF_CHECK_EQUAL(caf::deep_to_string(x).find("hello") != std::string::npos, true);
}

// The read cap (reads without an ack past which a message is dead-lettered) is 10 x
// max_attempts + 10: in int32 a max_attempts of 2147483647 wrapped it to 0, and every
// message was dead-lettered on its first read.
CAF_TEST(the read cap of a huge max_attempts does not overflow) {
  delivery d;
  d.read_ct = 1;
  d.attempts = 0;
  const int32_t huge = std::numeric_limits<int32_t>::max();
  CAF_CHECK(!attempts_exhausted(d, huge));
  CAF_CHECK(!attempts_exhausted(d, huge / 10));
  d.read_ct = 41;  // past 10 x 3 + 10: a loop no charge catches
  CAF_CHECK(attempts_exhausted(d, 3));
  d.read_ct = 40;
  CAF_CHECK(!attempts_exhausted(d, 3));
  d.attempts = 3;
  CAF_CHECK(attempts_exhausted(d, 3));
}

CAF_TEST_FIXTURE_SCOPE(runtime_tests, fixture)

CAF_TEST(caller SQL prepared before a schema change fails at most once and then runs afresh) {
  test::exec(dsn, "CREATE TABLE shape (a int); INSERT INTO shape VALUES (1)");
  auto select_all = [&] { return run_query(session, {"SELECT * FROM shape", {}}); };
  auto before = select_all();
  CAF_REQUIRE(before);
  CAF_CHECK_EQUAL(before->at(0).size(), 1u);
  // Prepared (cached) on this connection for one column; now the table has two.
  test::exec(dsn, "ALTER TABLE shape ADD COLUMN b int DEFAULT 2");
  auto during = select_all();  // may fail: "cached plan must not change result type"
  if (!during) CAF_MESSAGE("the old statement failed once: " << describe(during.error()));
  auto after = select_all();
  CAF_REQUIRE(after);
  CAF_REQUIRE_EQUAL(after->at(0).size(), 2u);
  CAF_CHECK_EQUAL(after->at(0).at(1).value_or(""), "2");
}

// A user's schema change under a handler's prepared statements is the database's
// trouble: with max_attempts 1 a charge would dead-letter the message. Both the read
// (SELECT *) and the write in the ack (RETURNING *) break; neither is charged.
CAF_TEST(a schema change under a handler statement is retried uncharged) {
  test::exec(dsn,
             "CREATE TABLE shape (a int); INSERT INTO shape VALUES (1);"
             "CREATE TABLE shape_seen (key text PRIMARY KEY, width int)");
  send("shapes", "probe", encode_json(probe{"before"}));
  auto first = step("shapes");
  CAF_REQUIRE_EQUAL(first.size(), 1u);
  CAF_REQUIRE(first[0].what == handled::acked);
  // Both statements are prepared on this worker's connections now; both tables change.
  test::exec(dsn,
             "ALTER TABLE shape ADD COLUMN b int DEFAULT 2;"
             "ALTER TABLE shape_seen ADD COLUMN at timestamptz DEFAULT now()");
  send("shapes", "probe", encode_json(probe{"after"}));
  for (int round = 0; round < 4 && n("SELECT count(*) FROM postbox.mailbox") > 0; ++round) {
    for (const auto& r : step("shapes")) CAF_CHECK(!r.charged);
    wake("shapes");
  }
  CAF_CHECK_EQUAL(n("SELECT count(*) FROM postbox.mailbox"), 0);
  CAF_CHECK_EQUAL(n("SELECT count(*) FROM postbox.dead_letters"), 0);
  CAF_CHECK_EQUAL(text("SELECT width FROM shape_seen WHERE key = 'after'"), "2");
  CAF_CHECK_EQUAL(n("SELECT count(*) FROM shape_seen"), 2);
}

CAF_TEST(a handler read runs on a read only connection and cannot write) {
  auto ok = run_query(ctx.reads(), {"SELECT count(*) FROM notes", {}});
  CAF_REQUIRE(ok);
  CAF_CHECK_EQUAL(ok->at(0).at(0).value_or(""), "0");
  auto write = run_query(ctx.reads(), {"INSERT INTO notes VALUES ('x', 'y') RETURNING key", {}});
  CAF_REQUIRE(!write);
  CAF_CHECK(test::contains(describe(write.error()), "read-only transaction"));
  CAF_CHECK_EQUAL(n("SELECT count(*) FROM notes"), 0);
  CAF_CHECK_EQUAL(
      n("SELECT count(*) FROM pg_stat_activity WHERE application_name = 'runtime-test/reads'"), 1);
}

CAF_TEST(the handler own row and the ack commit together or not at all) {
  send("notes", "note", encode_json(note{"k1", "first", 0}));
  int calls = 0;
  bool rolled_back_seen = false;
  ctx.before_commit = [&] {
    if (++calls == 1) {
      // The backend dies between the user's INSERT and the ack's commit.
      CAF_CHECK_EQUAL(test::terminate_backends(dsn, "runtime-test"), 1);
    } else {
      // The retry's transaction: the first one left neither row nor ack behind.
      rolled_back_seen = n("SELECT count(*) FROM notes") == 0 &&
                         n("SELECT count(*) FROM postbox.mailbox WHERE queue = 'notes'") == 1;
    }
  };
  auto first = step("notes");
  CAF_REQUIRE_EQUAL(first.size(), 1u);
  if (first[0].what != handled::acked) {
    // Not retried in place: the message is back and nothing of it committed.
    CAF_CHECK_EQUAL(n("SELECT count(*) FROM notes"), 0);
    CAF_CHECK_EQUAL(n("SELECT count(*) FROM postbox.mailbox WHERE queue = 'notes'"), 1);
    rolled_back_seen = true;
    wake("notes");
    CAF_CHECK_EQUAL(to_string(step("notes").at(0).what), std::string("acked"));
  }
  CAF_CHECK(rolled_back_seen);
  CAF_CHECK_EQUAL(n("SELECT count(*) FROM notes WHERE key = 'k1' AND text = 'first'"), 1);
  CAF_CHECK_EQUAL(n("SELECT count(*) FROM postbox.mailbox"), 0);
  ctx.before_commit = nullptr;
  // A failing user statement (duplicate key) rolls the ack back too: a charged attempt.
  send("notes", "note", encode_json(note{"k1", "again", 0}));
  auto dup = step("notes");
  CAF_CHECK_EQUAL(to_string(dup.at(0).what), std::string("retry_later"));
  CAF_CHECK(test::contains(dup.at(0).detail, "failed with"));
  CAF_CHECK_EQUAL(n("SELECT count(*) FROM notes WHERE text = 'again'"), 0);
  CAF_CHECK_EQUAL(n("SELECT count(*) FROM postbox.mailbox WHERE attempts = 1"), 1);
}

CAF_TEST(on_success carries the result once whatever the redeliveries) {
  auto id = send("notes", "note", encode_json(note{"k2", "hello", 0}), hooks());
  auto held = read("notes", 1, 10ms);  // a first delivery whose lease runs out
  CAF_REQUIRE_EQUAL(held.size(), 1u);
  std::this_thread::sleep_for(20ms);
  CAF_CHECK_EQUAL(to_string(step("notes").at(0).what), std::string("acked"));
  // The stale delivery finishes late: its receipt is fenced, nothing commits twice.
  CAF_CHECK_EQUAL(to_string(handle_delivery(ctx, held[0]).what), std::string("lease_lost"));
  auto p = hook("done");
  CAF_CHECK_EQUAL(boost::json::serialize(p.at("result")), R"({"stored":"k2"})");
  CAF_CHECK_EQUAL(p.at("ticket").as_int64(), 7);
  CAF_CHECK_EQUAL(p.at("message_id").as_int64(), id);
  CAF_CHECK_EQUAL(hooks_sent(), 1);
  CAF_CHECK_EQUAL(n("SELECT count(*) FROM notes"), 1);
  // A result PostgreSQL could not store (U+0000) is repaired, never a failed ack.
  send("notes", "note", encode_json(note{"k3", "nul", 0}), hooks());
  CAF_CHECK_EQUAL(to_string(step("notes").at(0).what), std::string("acked"));
  CAF_CHECK_EQUAL(n("SELECT count(*) FROM postbox.mailbox WHERE type = 'done' AND "
                    "payload->'result'->>'a' = 'x' || chr(65533) || 'y'"),
                  1);
}

CAF_TEST(on_error fires once with the real text on every failure path) {
  struct path {
    std::string label, type, payload, expect;
  };
  std::vector<path> paths = {
      {"handler error past max_attempts", "note", encode_json(note{"f", "fail", 0}),
       "refused to store 'f'"},
      {"throw", "note", encode_json(note{"t", "throw", 0}), "note handler blew up"},
      {"rejected", "note", encode_json(note{"r", "reject", 0}), "bad note r"},
      {"undecodable body", "note", R"({"key": 5})", "field 'key': expected string"},
      {"unknown type", "nobody_handles_this", "{}", "unknown message type 'nobody_handles_this'"},
  };
  for (const auto& p : paths) {
    CAF_MESSAGE("path: " << p.label);
    test::exec(dsn, "DELETE FROM postbox.mailbox; DELETE FROM postbox.dead_letters");
    auto id = send("notes", p.type, p.payload, hooks());
    for (int round = 0; round < 4 && n("SELECT count(*) FROM postbox.dead_letters") == 0; ++round) {
      step("notes");
      wake("notes");
    }
    CAF_CHECK_EQUAL(
        n("SELECT count(*) FROM postbox.dead_letters WHERE message_id = " + std::to_string(id)), 1);
    auto e = hook("failed");
    CAF_CHECK(test::contains(std::string(e.at("error").as_string()), p.expect));
    CAF_CHECK_EQUAL(e.at("message_id").as_int64(), id);
    CAF_CHECK_EQUAL(e.at("ticket").as_int64(), 7);
    CAF_CHECK_EQUAL(hooks_sent(), 1);
    // Handling it again (nothing left to read) adds nothing.
    step("notes");
    CAF_CHECK_EQUAL(hooks_sent(), 1);
  }
  CAF_CHECK_EQUAL(n("SELECT count(*) FROM notes"), 0);
  // The consumer's paths: a crash charged while it ran alone, and max_handler_time. Each
  // is a charged failure with its text; past max_attempts the poison carries it.
  for (std::string why : {"crashed its node while running alone (on a:1:2)",
                          "timed out: still running after max_handler_time (5s)"}) {
    test::exec(dsn, "DELETE FROM postbox.mailbox; DELETE FROM postbox.dead_letters");
    auto id = send("notes", "note", encode_json(note{"c", "ok", 0}), hooks());
    for (int i = 0; i < 2; ++i) {
      auto d = read("notes", 1);
      CAF_REQUIRE_EQUAL(d.size(), 1u);
      CAF_REQUIRE(mailbox.fail(d[0].to_lease(), 0ms, why));
    }
    step("notes");
    auto e = hook("failed");
    CAF_CHECK(test::contains(std::string(e.at("error").as_string()), why));
    CAF_CHECK_EQUAL(e.at("message_id").as_int64(), id);
    CAF_CHECK_EQUAL(n("SELECT count(*) FROM notes"), 0);  // the handler never ran
  }
}

CAF_TEST(fan_out fires one callback with every outcome despite redeliveries and nesting) {
  // 40 children; child 0 is a nested group of 5 squares; child 13 is rejected.
  send("work", "spread", encode_json(spread{40, 5}));
  CAF_REQUIRE_EQUAL(step("work").size(), 1u);
  CAF_CHECK_EQUAL(n("SELECT count(*) FROM postbox.barriers"), 1);
  // Hold half the children with a short lease (a node that froze), then let another
  // "node" handle everything; the stale copies finish afterwards.
  auto stale = read("work", 20, 10ms);
  CAF_REQUIRE_EQUAL(stale.size(), 20u);
  std::this_thread::sleep_for(20ms);
  for (int round = 0; round < 10; ++round) {
    auto a = step("work");
    auto b = step("gather");
    if (a.empty() && b.empty()) break;
  }
  for (const auto& d : stale) handle_delivery(ctx, d);  // all lease_lost
  CAF_CHECK_EQUAL(n("SELECT count(*) FROM gathered"), 2);
  CAF_CHECK_EQUAL(n("SELECT count(*) FROM gathered WHERE label = 'inner' AND "
                    "jsonb_array_length(results) = 5"),
                  1);
  CAF_CHECK_EQUAL(n("SELECT count(*) FROM gathered WHERE label = 'outer' AND "
                    "jsonb_array_length(results) = 40"),
                  1);
  // Child 0's result is the inner callback's result: 0+1+4+9+16.
  CAF_CHECK_EQUAL(text("SELECT results->0->>'result' FROM gathered WHERE label = 'outer'"), "30");
  CAF_CHECK_EQUAL(text("SELECT results->13->>'status' FROM gathered WHERE label = 'outer'"),
                  "error");
  CAF_CHECK(test::contains(text("SELECT results->13->>'error' FROM gathered WHERE label = 'outer'"),
                           "13 is unlucky"));
  CAF_CHECK_EQUAL(text("SELECT results->39->>'result' FROM gathered WHERE label = 'outer'"),
                  "1521");
  CAF_CHECK_EQUAL(n("SELECT count(*) FROM postbox.barriers WHERE fired_at IS NOT NULL"), 2);
  CAF_CHECK_EQUAL(n("SELECT count(*) FROM postbox.barrier_arrivals"), 45);
  CAF_CHECK_EQUAL(n("SELECT count(*) FROM postbox.mailbox"), 0);
  CAF_CHECK_EQUAL(n("SELECT count(*) FROM postbox.dead_letters"), 1);  // the unlucky 13
}

CAF_TEST(a nested group with no children still arrives and a forged member counts for nothing) {
  send("work", "spread", encode_json(spread{3, -1}));
  CAF_REQUIRE_EQUAL(step("work").size(), 1u);
  auto group = text("SELECT group_id FROM postbox.barriers");
  // A message that merely names the group (sent by hand) is not one of its children.
  message_headers h;
  h.group_id = group;
  h.child_index = 2;
  auto forged_id = send("work", "square", encode_json(square{7}), to_json(h));
  auto all = read("work");
  CAF_REQUIRE_EQUAL(all.size(), 4u);
  for (const auto& d : all)  // the forged one first: it must not take child 2's place
    if (d.id == forged_id) handle_delivery(ctx, d);
  CAF_CHECK_EQUAL(n("SELECT count(*) FROM postbox.barrier_arrivals"), 0);
  for (const auto& d : all)
    if (d.id != forged_id) handle_delivery(ctx, d);
  for (int round = 0; round < 10; ++round) {
    auto a = step("work");
    auto b = step("gather");
    if (a.empty() && b.empty()) break;
  }
  CAF_CHECK_EQUAL(n("SELECT count(*) FROM gathered WHERE label = 'inner' AND "
                    "jsonb_array_length(results) = 0"),
                  1);
  CAF_CHECK_EQUAL(n("SELECT count(*) FROM gathered WHERE label = 'outer'"), 1);
  CAF_CHECK_EQUAL(text("SELECT results::text FROM gathered WHERE label = 'outer'"),
                  R"([{"index": 0, "result": 0, "status": "ok"}, {"index": 1, "result": 1, )"
                  R"("status": "ok"}, {"index": 2, "result": 4, "status": "ok"}])");
  CAF_CHECK_EQUAL(n("SELECT count(*) FROM postbox.barrier_arrivals"), 3);
  CAF_CHECK_EQUAL(n("SELECT count(*) FROM postbox.mailbox"), 0);
}

CAF_TEST(a child whose in_ack step declines still arrives at its group) {
  send("work", "spread", encode_json(spread{2, -2}), hooks());
  CAF_REQUIRE_EQUAL(step("work").size(), 1u);
  auto r = step("notes");
  CAF_REQUIRE_EQUAL(r.size(), 2u);
  CAF_CHECK_EQUAL(r[1].detail, "declined: 1 notes");
  CAF_CHECK_EQUAL(step("gather").size(), 1u);
  CAF_CHECK_EQUAL(n("SELECT count(*) FROM notes"), 1);  // the declined one wrote nothing
  CAF_CHECK_EQUAL(text("SELECT results->1->'result'->>'declined' FROM gathered"),
                  "declined: 1 notes");
  CAF_CHECK_EQUAL(text("SELECT results->0->'result'->>'stored' FROM gathered"), "n1");
}

CAF_TEST(a message on_error fires even when its execution had already failed) {
  test::exec(dsn,
             "INSERT INTO postbox.executions (id, org, workflow, status, batch_size, files_total) "
             "VALUES ('e-1', 'org-1', 'w', 'ERROR', 1, 1)");
  for (const char* key : {"a", "b"}) {
    CAF_REQUIRE(mailbox.send(
        {"notes", "note", "e-1", "org-1", encode_json(note{key, "reject", 0}), hooks(), 0ms}));
  }
  step("notes");
  CAF_CHECK_EQUAL(n("SELECT count(*) FROM postbox.mailbox WHERE type = 'failed'"), 2);
  // The execution's own on_error goes once: set it, and a third one adds nothing.
  test::exec(dsn, "UPDATE postbox.executions SET headers = '" + hooks() + "'");
  CAF_REQUIRE(mailbox.send(
      {"notes", "note", "e-1", "org-1", encode_json(note{"c", "reject", 0}), hooks(), 0ms}));
  step("notes");
  CAF_CHECK_EQUAL(n("SELECT count(*) FROM postbox.mailbox WHERE type = 'failed'"), 2);
}

CAF_TEST(a child naming a group that does not exist is dead lettered) {
  message_headers h;
  h.group_id = "no-such-group";
  h.child_index = 0;
  send("work", "square", encode_json(square{2}), to_json(h));
  auto r = step("work");
  CAF_CHECK_EQUAL(to_string(r.at(0).what), std::string("dead_lettered"));
  CAF_CHECK(test::contains(r.at(0).detail, "no-such-group"));
}

CAF_TEST(a fan_out under a group id already in use fails its attempt and commits nothing) {
  send("work", "named_spread", encode_json(named_spread{"g-1", 2}), hooks());
  auto first = step("work");
  CAF_REQUIRE_EQUAL(first.size(), 1u);
  CAF_CHECK_EQUAL(to_string(first[0].what), std::string("acked"));
  // The same id again, with the same size and with another one.
  auto same = send("work", "named_spread", encode_json(named_spread{"g-1", 2}), hooks());
  auto other = send("work", "named_spread", encode_json(named_spread{"g-1", 3}), hooks());
  std::vector<handler_result> refused;
  for (const auto& d : read("work"))
    if (d.id == same || d.id == other) refused.push_back(handle_delivery(ctx, d));
  CAF_REQUIRE_EQUAL(refused.size(), 2u);
  for (const auto& r : refused) {
    CAF_CHECK_EQUAL(to_string(r.what), std::string("retry_later"));
    CAF_CHECK(r.charged);
    CAF_CHECK(test::contains(r.detail, "group id 'g-1' is already in use"));
  }
  // Each attempt was charged, with the reason; nothing of either handler committed:
  // no note, no children, no second barrier, no on_success.
  CAF_CHECK_EQUAL(n("SELECT count(*) FROM postbox.mailbox WHERE type = 'named_spread' AND "
                    "attempts = 1 AND last_error LIKE '%group id ''g-1'' is already in use%'"),
                  2);
  CAF_CHECK_EQUAL(n("SELECT count(*) FROM notes"), 1);
  CAF_CHECK_EQUAL(n("SELECT count(*) FROM postbox.mailbox WHERE type = 'square'"), 2);
  CAF_CHECK_EQUAL(n("SELECT count(*) FROM postbox.barriers"), 1);
  CAF_CHECK_EQUAL(n("SELECT expected FROM postbox.barriers WHERE group_id = 'g-1'"), 2);
  CAF_CHECK_EQUAL(hooks_sent(), 1);  // the first one's on_success only
}

CAF_TEST_FIXTURE_SCOPE_END()

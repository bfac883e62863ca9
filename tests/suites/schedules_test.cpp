// Cron schedules (guarantee 12) on real node processes and a real database: one message
// per tick while 5 nodes are killed -9 at random; missed ticks after the cluster stopped
// (skip, once, all); DST days of Europe/Berlin and America/New_York with the database's
// clock pinned; restarts that never skip a tick; a schedule removed from the topology
// stops; pause, resume and trigger from the CLI; postbox.schedule / unschedule in SQL;
// bad cron and unknown zones refused with nothing written.
#define CAF_SUITE schedules
#include <caf/test/unit_test.hpp>
#include <csignal>
#include <cstdlib>
#include <random>
#include <thread>

#include "actors/transports/http_client.hpp"
#include "config/topology.hpp"
#include "persistence/schedule_store.hpp"
#include "postbox/error.hpp"
#include "support/node_process.hpp"
#include "support/pg_fixture.hpp"

using namespace postbox;
using namespace std::chrono_literals;

namespace {

struct fixture {
  std::string dsn = test::create_migrated_database("schedules");
  std::string dir = test::make_temp_dir("schedules");

  /// A cluster of nodes n1..n5 consuming queue `work` (the ticks go to queue `ticks`,
  /// which nobody consumes: every message sent stays to be counted), with `schedules`.
  std::string topology(const std::string& schedules, const std::string& file = "sched.yaml",
                       uint16_t http_port = 0) {
    std::string nodes;
    for (int i = 1; i <= 5; ++i)
      nodes += "  n" + std::to_string(i) +
               (i == 1 && http_port != 0 ? ": { http_port: " + std::to_string(http_port) + ", "
                                         : ": { ") +
               "actors: [ { queue: work, concurrency: 1 } ] }\n";
    return test::write_file(dir + "/" + file,
                            "cluster: sched\n"
                            "database: { dsn: \"${POSTBOX_DSN}\" }\n"
                            "drain_timeout: 2s\n" +
                                (schedules.empty() ? "" : "schedules:\n" + schedules) + "nodes:\n" +
                                nodes);
  }

  /// Node `name` of `topo`; odd nodes get the key=value DSN, even ones the URI.
  std::unique_ptr<test::node_process> node(const std::string& topo, const std::string& name) {
    auto form = (name.back() - '0') % 2 == 0 ? test::as_uri(dsn) : test::as_key_value(dsn);
    auto n = std::make_unique<test::node_process>(topo, name, form);
    CAF_REQUIRE(n->start());
    return n;
  }

  long long count(const std::string& sql) { return test::count(dsn, sql); }

  /// Messages of schedule `name` (still in the mailbox: nobody consumes `ticks`).
  long long sent(const std::string& name) {
    return count("SELECT count(*) FROM postbox.mailbox WHERE headers->>'schedule' = '" + name +
                 "'");
  }
  /// Ticks that have more than one message.
  long long duplicate_ticks(const std::string& name) {
    return count(
        "SELECT count(*) FROM (SELECT headers->>'tick' FROM postbox.mailbox "
        "WHERE headers->>'schedule' = '" +
        name + "' GROUP BY 1 HAVING count(*) > 1) d");
  }
  /// Seconds between the first and last tick sent, plus one: the ticks due in between.
  long long span(const std::string& name) {
    return count(
        "SELECT COALESCE(extract(epoch FROM max(tick) - min(tick))::bigint + 1, 0) "
        "FROM postbox.schedule_ticks WHERE name = '" +
        name + "' AND outcome = 'sent'");
  }
  /// Every tick between the first and last accounted for exactly once: sent on its own,
  /// folded into a later one (missed) or recorded as skipped.
  long long accounted(const std::string& name) {
    return count(
        "SELECT COALESCE(sum(CASE outcome WHEN 'sent' THEN 1 + missed ELSE missed END), 0) "
        "FROM postbox.schedule_ticks t "
        "WHERE name = '" +
        name +
        "' AND outcome IN ('sent', 'skipped_missed') "
        "AND tick >= (SELECT min(tick) FROM postbox.schedule_ticks "
        "             WHERE name = t.name AND outcome = 'sent')");
  }
  void check_exactly_once(const std::string& name) {
    CAF_CHECK_EQUAL(duplicate_ticks(name), 0);
    // Each message has its tick row, and each sent tick row its message.
    CAF_CHECK_EQUAL(sent(name), count("SELECT count(*) FROM postbox.schedule_ticks t JOIN "
                                      "postbox.mailbox m ON m.id = t.message_id WHERE t.name = '" +
                                      name + "' AND t.outcome = 'sent'"));
    CAF_CHECK_EQUAL(sent(name), count("SELECT count(*) FROM postbox.schedule_ticks WHERE name = '" +
                                      name + "' AND outcome = 'sent'"));
    CAF_CHECK_EQUAL(accounted(name), span(name));
  }

  /// Pins the database's clock (postbox.clock_now()) at `ts` (timestamptz text).
  void pin_clock(const std::string& ts) {
    test::exec(dsn, "INSERT INTO postbox.clock_override (now) VALUES ('" + ts +
                        "') ON CONFLICT (only_row) DO UPDATE SET now = EXCLUDED.now");
  }
};

const std::string every_second_send = "send: { queue: ticks, type: tick, payload: { n: 1 } }";

}  // namespace

CAF_TEST_FIXTURE_SCOPE(schedules_tests, fixture)

CAF_TEST(five nodes killed at random send exactly one message per tick) {
  auto topo = topology("  every: { cron: '* * * * * *', " + every_second_send + " }\n");
  std::vector<std::unique_ptr<test::node_process>> nodes;
  for (int i = 1; i <= 5; ++i) nodes.push_back(node(topo, "n" + std::to_string(i)));
  CAF_REQUIRE(test::wait_until([&] { return sent("every") >= 3; }, 30s));
  // 60 s of chaos (the shape; ~60 kills): every 0.4-1.6 s one random node is
  // killed -9 and started again.
  std::mt19937 rng(23);
  auto until = std::chrono::steady_clock::now() + 60s;
  int kills = 0;
  while (std::chrono::steady_clock::now() < until) {
    std::this_thread::sleep_for(std::chrono::milliseconds(400 + rng() % 1200));
    auto i = rng() % nodes.size();
    nodes[i]->signal(SIGKILL);
    nodes[i]->wait_exit(5s);
    nodes[i] = node(topo, "n" + std::to_string(i + 1));
    ++kills;
  }
  auto before = sent("every");
  CAF_REQUIRE(test::wait_until([&] { return sent("every") >= before + 2; }, 20s));
  for (auto& n : nodes) n->signal(SIGKILL);
  for (auto& n : nodes) n->wait_exit(5s);
  CAF_MESSAGE(kills << " kills, " << sent("every") << " messages over " << span("every")
                    << " s, missed "
                    << count("SELECT COALESCE(sum(missed), 0) FROM "
                             "postbox.schedule_ticks WHERE name = 'every'"));
  CAF_CHECK_GREATER_OR_EQUAL(span("every"), 60);
  check_exactly_once("every");
  // Nodes were always up: almost every tick went on its own.
  CAF_CHECK_GREATER_OR_EQUAL(sent("every") * 10, span("every") * 8);
}

CAF_TEST(a stopped cluster catches up by on_missed skip once and all) {
  auto topo = topology("  once: { cron: '* * * * * *', on_missed: once, " + every_second_send +
                       " }\n"
                       "  all: { cron: '* * * * * *', on_missed: all, " +
                       every_second_send +
                       " }\n"
                       "  skip: { cron: '* * * * * *', on_missed: skip, " +
                       every_second_send + " }\n");
  auto a = node(topo, "n1");
  auto b = node(topo, "n2");
  auto all_have = [&](long long n) {
    return sent("once") >= n && sent("all") >= n && sent("skip") >= n;
  };
  CAF_REQUIRE(test::wait_until([&] { return all_have(3); }, 30s));
  a->signal(SIGKILL);
  b->signal(SIGKILL);
  a->wait_exit(5s);
  b->wait_exit(5s);
  auto last_before = [&](const std::string& n) {
    return count(
        "SELECT (extract(epoch FROM max(tick)) * 1000)::bigint FROM "
        "postbox.schedule_ticks WHERE name = '" +
        n + "'");
  };
  auto once_before = sent("once"), all_before = sent("all"), skip_before = sent("skip");
  auto skip_last = last_before("skip");
  // The cluster is down for 10 s: nothing can be awaited, time has to pass.
  std::this_thread::sleep_for(10s);
  a = node(topo, "n1");
  CAF_REQUIRE(test::wait_until(
      [&] {
        return sent("once") >= once_before + 2 && sent("skip") >= skip_before + 2 &&
               sent("all") >= all_before + 12;
      },
      30s));
  a->signal(SIGKILL);
  a->wait_exit(5s);
  for (auto n : {"once", "all", "skip"}) check_exactly_once(n);
  // once: one message carried the outage, missed about 10.
  auto folded = count("SELECT max(missed) FROM postbox.schedule_ticks WHERE name = 'once'");
  CAF_MESSAGE("once: missed " << folded);
  CAF_CHECK_GREATER_OR_EQUAL(folded, 9);
  CAF_CHECK_LESS_OR_EQUAL(folded, 14);
  CAF_CHECK_EQUAL(count("SELECT count(*) FROM postbox.mailbox WHERE headers->>'schedule' = 'once' "
                        "AND (headers->>'missed')::int = " +
                        std::to_string(folded)),
                  1);
  // all: every tick sent on its own, those of the outage backfilled.
  CAF_CHECK_EQUAL(
      count("SELECT COALESCE(sum(missed), 0) FROM postbox.schedule_ticks WHERE name = 'all'"), 0);
  CAF_CHECK_EQUAL(sent("all"), span("all"));
  CAF_CHECK_GREATER_OR_EQUAL(
      count("SELECT count(*) FROM postbox.mailbox WHERE headers->>'schedule' = 'all' "
            "AND headers->>'backfilled' = 'true'"),
      9);
  // skip: none of the outage's ticks was sent (the next sent tick came >= 9 s after the
  // last one before); they are recorded as skipped.
  auto skip_next = count(
      "SELECT (extract(epoch FROM min(tick)) * 1000)::bigint FROM "
      "postbox.schedule_ticks WHERE name = 'skip' AND outcome = 'sent' AND "
      "tick > timestamptz 'epoch' + " +
      std::to_string(skip_last) + " * interval '1 millisecond'");
  CAF_MESSAGE("skip: next sent tick " << (skip_next - skip_last) << " ms after the last before");
  CAF_CHECK_GREATER_OR_EQUAL(skip_next - skip_last, 9000);
  auto skipped = count(
      "SELECT COALESCE(sum(missed), 0) FROM postbox.schedule_ticks "
      "WHERE name = 'skip' AND outcome = 'skipped_missed'");
  CAF_MESSAGE("skip: skipped " << skipped);
  CAF_CHECK_GREATER_OR_EQUAL(skipped, 9);
}

CAF_TEST(dst days fire by the documented rules with the database clock pinned) {
  // Four schedules from SQL; the firing is driven from here, one pinned "now" after
  // another (every next tick in turn), so no real time passes.
  test::exec(dsn,
             "SELECT postbox.schedule('ny_0230', '30 2 * * *', "
             "  '{\"queue\": \"ticks\", \"type\": \"tick\"}', timezone => 'America/New_York');"
             "SELECT postbox.schedule('ny_hourly', '0 * * * *', "
             "  '{\"queue\": \"ticks\", \"type\": \"tick\"}', timezone => 'America/New_York');"
             "SELECT postbox.schedule('be_0230', '30 2 * * *', "
             "  '{\"queue\": \"ticks\", \"type\": \"tick\"}', timezone => 'Europe/Berlin');"
             "SELECT postbox.schedule('be_hourly', '0 * * * *', "
             "  '{\"queue\": \"ticks\", \"type\": \"tick\"}', timezone => 'Europe/Berlin');");
  pg_session session{session_options{dsn, "schedules-test"}};
  schedule_store store{session};
  auto fire_all = [&] {
    for (;;) {
      auto f = store.fire_one(schedule_stale_ms);
      CAF_REQUIRE(f);
      if (!f->found) break;
    }
  };
  // Runs every tick from `from` to `to` (UTC): pins the clock at each next tick in turn.
  auto run = [&](const std::string& from, const std::string& to) {
    test::exec(dsn, "UPDATE postbox.schedules SET next_tick = NULL");
    pin_clock(from);
    fire_all();  // first sight: next ticks computed from the pinned now
    for (int guard = 0; guard < 500; ++guard) {
      auto next = test::scalar(dsn, "SELECT min(next_tick) FROM postbox.schedules");
      if (count("SELECT count(*) FROM postbox.schedules WHERE next_tick < '" + to + "'") == 0)
        break;
      pin_clock(next);
      fire_all();
    }
  };
  auto ticks = [&](const std::string& name, const std::string& from, const std::string& to) {
    return count("SELECT count(*) FROM postbox.mailbox WHERE headers->>'schedule' = '" + name +
                 "' AND (headers->>'tick')::timestamptz >= '" + from +
                 "' AND (headers->>'tick')::timestamptz < '" + to + "'");
  };
  auto tick_of = [&](const std::string& name, const std::string& from, const std::string& to) {
    return test::scalar(dsn,
                        "SELECT string_agg(headers->>'tick', ',') FROM postbox.mailbox "
                        "WHERE headers->>'schedule' = '" +
                            name + "' AND (headers->>'tick')::timestamptz >= '" + from +
                            "' AND (headers->>'tick')::timestamptz < '" + to + "'");
  };
  // 2026: Berlin springs forward 29 March 01:00Z and falls back 25 October 01:00Z; New
  // York springs forward 8 March 07:00Z and falls back 1 November 06:00Z.
  run("2026-03-07 12:00Z", "2026-03-10 00:00Z");
  run("2026-03-28 12:00Z", "2026-03-31 00:00Z");
  run("2026-10-24 12:00Z", "2026-10-27 00:00Z");
  run("2026-10-31 12:00Z", "2026-11-03 00:00Z");
  // New York, 8 March (local day 05:00Z..04:00Z): 02:30 does not exist, fires once at 03:00 EDT.
  CAF_CHECK_EQUAL(tick_of("ny_0230", "2026-03-08 05:00Z", "2026-03-09 04:00Z"),
                  "2026-03-08T07:00:00.000Z");
  CAF_CHECK_EQUAL(ticks("ny_hourly", "2026-03-08 05:00Z", "2026-03-09 04:00Z"), 23);
  // 1 November (04:00Z..05:00Z next day): 02:30 once (EST); 25 hourly runs.
  CAF_CHECK_EQUAL(tick_of("ny_0230", "2026-11-01 04:00Z", "2026-11-02 05:00Z"),
                  "2026-11-01T07:30:00.000Z");
  CAF_CHECK_EQUAL(ticks("ny_hourly", "2026-11-01 04:00Z", "2026-11-02 05:00Z"), 25);
  // Berlin, 29 March (23:00Z..22:00Z): 02:30 fires once at 03:00 CEST; 23 hourly runs.
  CAF_CHECK_EQUAL(tick_of("be_0230", "2026-03-28 23:00Z", "2026-03-29 22:00Z"),
                  "2026-03-29T01:00:00.000Z");
  CAF_CHECK_EQUAL(ticks("be_hourly", "2026-03-28 23:00Z", "2026-03-29 22:00Z"), 23);
  // 25 October (22:00Z..23:00Z): 02:30 happens twice, fires at the first (CEST); 25 hourly.
  CAF_CHECK_EQUAL(tick_of("be_0230", "2026-10-24 22:00Z", "2026-10-25 23:00Z"),
                  "2026-10-25T00:30:00.000Z");
  CAF_CHECK_EQUAL(ticks("be_hourly", "2026-10-24 22:00Z", "2026-10-25 23:00Z"), 25);
  for (auto n : {"ny_0230", "ny_hourly", "be_0230", "be_hourly"})
    CAF_CHECK_EQUAL(duplicate_ticks(n), 0);
  // Nothing was missed on the way: every tick sent on its own.
  CAF_CHECK_EQUAL(count("SELECT COALESCE(sum(missed), 0) FROM postbox.schedule_ticks"), 0);
  test::exec(dsn, "DELETE FROM postbox.clock_override");
}

CAF_TEST(restarts never skip a tick and a removed schedule stops) {
  auto topo = topology("  steady: { cron: '* * * * * *', on_missed: all, " + every_second_send +
                       " }\n"
                       "  gone: { cron: '* * * * * *', " +
                       every_second_send + " }\n");
  auto a = node(topo, "n1");
  CAF_REQUIRE(test::wait_until([&] { return sent("steady") >= 2 && sent("gone") >= 2; }, 30s));
  // Restarted 3 times, alternately drained and killed: the next tick never moves
  // (a restart that recomputed it from now would lose the ticks of the restart).
  for (int i = 0; i < 3; ++i) {
    auto before = sent("steady");
    a->signal(i % 2 == 0 ? SIGTERM : SIGKILL);
    a->wait_exit(10s);
    a = node(topo, "n1");
    CAF_REQUIRE(test::wait_until([&] { return sent("steady") > before; }, 20s));
  }
  check_exactly_once("steady");
  CAF_CHECK_EQUAL(count("SELECT COALESCE(sum(missed), 0) FROM postbox.schedule_ticks "
                        "WHERE name = 'steady'"),
                  0);
  CAF_CHECK_EQUAL(sent("steady"), span("steady"));
  // `gone` leaves the topology: the node restarts without it. It was last declared a
  // while ago (backdated past the stale time, as if its last node left 31 s ago).
  a->signal(SIGTERM);
  a->wait_exit(10s);
  test::exec(dsn,
             "UPDATE postbox.schedules SET seen_at = now() - interval '31 seconds' "
             "WHERE name = 'gone'");
  auto topo2 =
      topology("  steady: { cron: '* * * * * *', on_missed: all, " + every_second_send + " }\n",
               "sched2.yaml");
  a = node(topo2, "n1");
  auto gone_before = sent("gone");
  auto steady_before = sent("steady");
  CAF_REQUIRE(test::wait_until([&] { return sent("steady") >= steady_before + 3; }, 20s));
  CAF_CHECK_EQUAL(sent("gone"), gone_before);
  auto cli_env = std::vector<std::string>{"POSTBOX_DSN=" + dsn};
  auto listed = test::run_cli({"schedules"}, cli_env);
  CAF_CHECK_EQUAL(listed.exit_code, 0);
  CAF_MESSAGE(listed.out);
  CAF_CHECK_NOT_EQUAL(listed.out.find("stale"), std::string::npos);
  a->signal(SIGKILL);
  a->wait_exit(5s);
}

CAF_TEST(pause resume and trigger from the cli) {
  const uint16_t port = test::free_port();
  auto topo =
      topology("  every: { cron: '* * * * * *', " + every_second_send + " }\n", "sched.yaml", port);
  auto a = node(topo, "n1");
  CAF_REQUIRE(test::wait_until([&] { return sent("every") >= 2; }, 30s));
  auto env = std::vector<std::string>{"POSTBOX_DSN=" + dsn};
  auto paused = test::run_cli({"schedules", "pause", "every"}, env);
  CAF_CHECK_EQUAL(paused.exit_code, 0);
  auto at_pause = sent("every");
  std::this_thread::sleep_for(2500ms);  // a paused schedule must stay silent: time passes
  CAF_CHECK_LESS_OR_EQUAL(sent("every"), at_pause + 1);  // a firing in flight may commit
  auto quiet = sent("every");
  auto trig = test::run_cli({"schedules", "trigger", "every"}, env);
  CAF_CHECK_EQUAL(trig.exit_code, 0);
  CAF_CHECK_EQUAL(sent("every"), quiet + 1);
  CAF_CHECK_EQUAL(count("SELECT count(*) FROM postbox.schedule_ticks WHERE name = 'every' "
                        "AND outcome = 'triggered'"),
                  1);
  auto resumed = test::run_cli({"schedules", "resume", "every"}, env);
  CAF_CHECK_EQUAL(resumed.exit_code, 0);
  CAF_CHECK(test::wait_until([&] { return sent("every") >= quiet + 3; }, 20s));
  // The paused seconds were not caught up.
  CAF_CHECK_EQUAL(count("SELECT COALESCE(sum(missed), 0) FROM postbox.schedule_ticks "
                        "WHERE name = 'every'"),
                  0);
  CAF_CHECK_EQUAL(duplicate_ticks("every"), 0);
  auto unknown = test::run_cli({"schedules", "pause", "nope"}, env);
  CAF_CHECK_EQUAL(unknown.exit_code, 1);
  CAF_CHECK_NOT_EQUAL(unknown.err.find("no schedule named 'nope'"), std::string::npos);
  // /metrics: next and last tick and the tick counters; the dashboard's schedules table.
  const std::string base = "http://127.0.0.1:" + std::to_string(port);
  auto metrics = http_get(base + "/metrics", 5s);
  CAF_CHECK_EQUAL(metrics.status, 200);
  for (const char* family : {"postbox_schedule_next_tick_seconds{schedule=\"every\"}",
                             "postbox_schedule_last_tick_seconds{schedule=\"every\"}",
                             "postbox_schedule_ticks_sent_total{schedule=\"every\"}",
                             "postbox_schedule_ticks_skipped_total{schedule=\"every\"} 0"})
    CAF_CHECK_NOT_EQUAL(metrics.body.find(family), std::string::npos);
  auto page = http_get(base + "/", 5s);
  CAF_CHECK_EQUAL(page.status, 200);
  CAF_CHECK_NOT_EQUAL(page.body.find("<table id=\"schedules\">"), std::string::npos);
  CAF_CHECK_NOT_EQUAL(page.body.find("<td>every</td><td>* * * * * *</td><td>UTC</td>"),
                      std::string::npos);
  auto listed = test::run_cli({"--json", "schedules"}, env);
  CAF_CHECK_EQUAL(listed.exit_code, 0);
  CAF_CHECK_NOT_EQUAL(listed.out.find("\"name\":\"every\""), std::string::npos);
  a->signal(SIGKILL);
  a->wait_exit(5s);
}

CAF_TEST(sql schedule and unschedule and bad input writes nothing) {
  auto topo = topology("");
  auto a = node(topo, "n1");
  test::exec(dsn,
             "SELECT postbox.schedule('from_sql', '* * * * * *', "
             "'{\"queue\": \"ticks\", \"type\": \"tick\", \"payload\": {\"k\": 1}}')");
  CAF_REQUIRE(test::wait_until([&] { return sent("from_sql") >= 3; }, 20s));
  CAF_CHECK_EQUAL(count("SELECT count(*) FROM postbox.mailbox WHERE headers->>'schedule' = "
                        "'from_sql' AND payload = '{\"k\": 1}'"),
                  sent("from_sql"));
  CAF_CHECK_EQUAL(test::scalar(dsn, "SELECT postbox.unschedule('from_sql')"), "t");
  auto after = sent("from_sql");
  CAF_CHECK_EQUAL(test::scalar(dsn, "SELECT postbox.unschedule('from_sql')"), "f");
  std::this_thread::sleep_for(1500ms);  // an unscheduled one must stay silent: time passes
  CAF_CHECK_EQUAL(sent("from_sql"), after);
  check_exactly_once("from_sql");
  // overlap skip: while the last tick's message is still in the mailbox (nobody consumes
  // `ticks`), each tick is recorded as skipped_overlap; once it is gone, the next is sent.
  test::exec(dsn,
             "SELECT postbox.schedule('overlapping', '* * * * * *', "
             "'{\"queue\": \"ticks\", \"type\": \"tick\"}', overlap => 'skip')");
  auto overlapped = [&] {
    return count(
        "SELECT count(*) FROM postbox.schedule_ticks WHERE name = 'overlapping' "
        "AND outcome = 'skipped_overlap'");
  };
  CAF_REQUIRE(test::wait_until([&] { return overlapped() >= 3; }, 20s));
  CAF_CHECK_EQUAL(sent("overlapping"), 1);
  test::exec(dsn, "DELETE FROM postbox.mailbox WHERE headers->>'schedule' = 'overlapping'");
  CAF_REQUIRE(test::wait_until([&] { return sent("overlapping") == 1; }, 20s));
  CAF_CHECK_EQUAL(duplicate_ticks("overlapping"), 0);
  CAF_CHECK_EQUAL(count("SELECT count(*) FROM postbox.schedule_ticks WHERE name = 'overlapping' "
                        "AND outcome = 'sent'"),
                  2);
  CAF_CHECK_EQUAL(test::scalar(dsn, "SELECT postbox.unschedule('overlapping')"), "t");
  // Bad cron, unknown zone, bad target: refused (22023) with the reason; nothing written.
  auto refused = [&](const std::string& call, const std::string& needle) {
    try {
      test::exec(dsn, call);
      CAF_FAIL("accepted: " << call);
    } catch (const std::exception& e) {
      std::string what = e.what();
      CAF_MESSAGE(what);
      CAF_CHECK_NOT_EQUAL(what.find(needle), std::string::npos);
    }
  };
  refused("SELECT postbox.schedule('b', '61 * * * *', '{\"queue\": \"q\", \"type\": \"t\"}')",
          "minute field '61' is out of range 0-59");
  refused("SELECT postbox.schedule('b', '* * *', '{\"queue\": \"q\", \"type\": \"t\"}')",
          "needs 5 fields");
  refused(
      "SELECT postbox.schedule('b', '0 3 * * *', '{\"queue\": \"q\", \"type\": \"t\"}', "
      "timezone => 'Europe/Atlantis')",
      "unknown time zone 'Europe/Atlantis'");
  refused("SELECT postbox.schedule('b', '0 3 * * *', '{\"queue\": \"q\"}')",
          "target.type is required");
  CAF_CHECK_EQUAL(count("SELECT count(*) FROM postbox.schedules"), 0);
  // The same in a topology: the node refuses to start, naming file, line and key.
  auto bad_cron =
      topology("  nightly: { cron: '0 3 * * * * *', " + every_second_send + " }\n", "bad1.yaml");
  ::setenv("POSTBOX_DSN", dsn.c_str(), 1);  // the topology's ${POSTBOX_DSN}
  auto t1 = load_topology_file(bad_cron);
  CAF_REQUIRE(!t1);
  CAF_MESSAGE(describe(t1.error()));
  CAF_CHECK_NOT_EQUAL(describe(t1.error())
                          .find("schedules.nightly.cron: cron '0 3 * * * * *': "
                                "needs 5 fields"),
                      std::string::npos);
  auto bad_zone = topology(
      "  nightly: { cron: '0 3 * * *', timezone: Europe/Atlantis, " + every_second_send + " }\n",
      "bad2.yaml");
  auto t2 = load_topology_file(bad_zone);
  CAF_REQUIRE(!t2);
  CAF_CHECK_NOT_EQUAL(describe(t2.error())
                          .find("schedules.nightly.timezone: unknown time zone "
                                "'Europe/Atlantis'"),
                      std::string::npos);
  auto b = std::make_unique<test::node_process>(bad_zone, "n2", test::as_key_value(dsn));
  CAF_REQUIRE(b->start());
  CAF_CHECK_NOT_EQUAL(b->wait_exit(20s), 0);
  CAF_CHECK_EQUAL(count("SELECT count(*) FROM postbox.schedules"), 0);
  a->signal(SIGKILL);
  a->wait_exit(5s);
}

CAF_TEST_FIXTURE_SCOPE_END()

// /metrics as a scraper sees it: the page passes `promtool check metrics`, every
// family has HELP and TYPE once before its samples, no series repeats, and the
// values agree with what happened (counters per queue, the handler histogram) and
// with the database (queue gauges, dead letters). A node runs the test program
// (tests/support/programs/echo_program.py) on queue `work`; its continuations land
// in queue `seen`, which nobody consumes.
#define CAF_SUITE metrics
#include <sys/wait.h>
#include <unistd.h>

#include <caf/test/unit_test.hpp>
#include <cmath>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <pqxx/pqxx>
#include <set>
#include <sstream>

#include "actors/runtime/child_process.hpp"
#include "actors/runtime/node_metrics.hpp"
#include "actors/runtime/prometheus_text.hpp"
#include "actors/transports/http_client.hpp"
#include "support/node_process.hpp"
#include "support/pg_fixture.hpp"
#include "support/shell.hpp"

using namespace postbox;
using postbox::test::source_path;
using namespace std::chrono_literals;

namespace {

/// True when promtool can run; otherwise says why the lint is skipped, and fails under
/// CI (where `make deps` installs Debian's prometheus package, which ships it).
bool have_promtool() {
  if (bool(find_executable("promtool"))) return true;
  const char* ci = std::getenv("CI");
  const bool in_ci = ci && std::string(ci) == "true";
  CAF_MESSAGE((in_ci ? "promtool is missing in CI (make deps installs the prometheus package)"
                     : "skipped the promtool lint: promtool is missing (apt-get install "
                       "prometheus)"));
  CAF_CHECK(!in_ci);
  return false;
}

/// `promtool check metrics` with `text` on its stdin: exit code and what it printed.
test::shell_result promtool_check(const std::string& text) {
  auto path = test::write_file(test::make_temp_dir("metrics-lint") + "/metrics.txt", text);
  return test::run_shell("promtool check metrics < " + test::shell_quote(path));
}

/// Lints `text` with promtool (when present); a failure shows promtool's complaints.
void check_lint(const std::string& text) {
  if (!have_promtool()) return;
  auto r = promtool_check(text);
  if (r.exit_code != 0)
    CAF_FAIL("promtool check metrics failed (exit " << r.exit_code << "):\n"
                                                    << r.output << "\n--- page:\n"
                                                    << text);
  CAF_CHECK_EQUAL(r.exit_code, 0);
}

/// What promtool does not check: HELP and TYPE exactly once per family, before its
/// samples; every sample belongs to a declared family; no series twice. Problems, one
/// per line ("" when none).
std::string check_structure(const std::string& text) {
  std::string problems;
  std::map<std::string, std::string> types;  // family -> type
  std::set<std::string> helps, series;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("# HELP ", 0) == 0 || line.rfind("# TYPE ", 0) == 0) {
      std::istringstream words(line.substr(7));
      std::string name, type;
      words >> name >> type;
      if (line[2] == 'H' && !helps.insert(name).second) problems += "HELP twice: " + name + "\n";
      if (line[2] == 'T' && !types.emplace(name, type).second)
        problems += "TYPE twice: " + name + "\n";
      continue;
    }
    if (line.empty() || line[0] == '#') continue;
    auto key = line.substr(0, line.rfind(' '));
    if (!series.insert(key).second) problems += "series twice: " + key + "\n";
    auto name = key.substr(0, key.find('{'));
    std::string family = name;
    for (const char* suffix : {"_bucket", "_sum", "_count"}) {
      const std::string s = suffix;
      if (name.size() > s.size() && name.compare(name.size() - s.size(), s.size(), s) == 0 &&
          types.count(name.substr(0, name.size() - s.size())) &&
          types[name.substr(0, name.size() - s.size())] == "histogram")
        family = name.substr(0, name.size() - s.size());
    }
    if (!types.count(family)) problems += "sample before (or without) its TYPE: " + line + "\n";
    if (!helps.count(family)) problems += "sample before (or without) its HELP: " + line + "\n";
    if (types.count(family) && types[family] == "counter" &&
        family.compare(family.size() - 6, 6, "_total") != 0)
      problems += "counter without _total: " + family + "\n";
  }
  return problems;
}

/// The value of one series (`name{labels}` exactly as rendered), NaN if absent.
double value_of(const std::string& text, const std::string& series) {
  auto pos = text.find("\n" + series + " ");
  if (pos == std::string::npos) return std::nan("");
  return std::strtod(text.c_str() + pos + series.size() + 2, nullptr);
}

std::string q(const std::string& queue) {
  return "{queue=\"" + queue + "\"}";
}

}  // namespace

CAF_TEST(label values are escaped and numbers rendered as Prometheus reads them) {
  CAF_CHECK_EQUAL(prom::escape_label_value("a\\b\"c\nd"), "a\\\\b\\\"c\\nd");
  CAF_CHECK_EQUAL(prom::format_value(3), "3");
  CAF_CHECK_EQUAL(prom::format_value(0.25), "0.25");
  CAF_CHECK_EQUAL(prom::format_value(1.0 / 0.0), "+Inf");
  prom::writer w;
  w.family("x_total", "counter", "A help text with a \\ and a\nnewline.");
  w.sample("x_total", {{"queue", "we\"ird\\name\n"}}, 2);
  CAF_CHECK_EQUAL(w.str(),
                  "# HELP x_total A help text with a \\\\ and a\\nnewline.\n"
                  "# TYPE x_total counter\n"
                  "x_total{queue=\"we\\\"ird\\\\name\\n\"} 2\n");
  check_lint(w.str());
}

CAF_TEST(every family is declared once also before any sample) {
  node_metrics m;
  auto empty = m.prometheus();
  CAF_CHECK_EQUAL(check_structure(empty), "");
  for (const char* family :
       {"postbox_claimed_total", "postbox_acks_total", "postbox_nacks_total",
        "postbox_failures_total", "postbox_poisons_total", "postbox_lease_renewals_total",
        "postbox_lease_losses_total", "postbox_handler_duration_seconds",
        "postbox_reaper_runs_total", "postbox_reaper_rows_total"})
    CAF_CHECK(empty.find(std::string("# TYPE ") + family + " ") != std::string::npos);
  check_lint(empty);
}

CAF_TEST(the handler histogram has cumulative buckets a sum and a count) {
  node_metrics m;
  m.handler_duration("q", 3ms);   // le 0.005
  m.handler_duration("q", 5ms);   // le 0.005 (bounds are inclusive)
  m.handler_duration("q", 20ms);  // le 0.025
  m.handler_duration("q", 2s);    // le 2.5
  m.handler_duration("q", 100s);  // above every bound: +Inf only
  m.handled("q", "acked");
  m.handled("q", "failed");
  m.handled("q", "timed_out");
  m.handled("q", "given_back");
  m.handled("q", "dead_lettered");
  m.leases_renewed("q", 4, 1);
  m.reaper_ran("swept", {{"outbox_pruned", 2}, {"claims_released", 0}});
  m.reaper_ran("standby", {{"outbox_pruned", 0}, {"claims_released", 0}});
  auto text = "\n" + m.prometheus();
  auto bucket = [&](const char* le) {
    return value_of(text, std::string("postbox_handler_duration_seconds_bucket{queue=\"q\",le=\"") +
                              le + "\"}");
  };
  CAF_CHECK_EQUAL(bucket("0.005"), 2);
  CAF_CHECK_EQUAL(bucket("0.01"), 2);
  CAF_CHECK_EQUAL(bucket("0.025"), 3);
  CAF_CHECK_EQUAL(bucket("1"), 3);
  CAF_CHECK_EQUAL(bucket("2.5"), 4);
  CAF_CHECK_EQUAL(bucket("60"), 4);
  CAF_CHECK_EQUAL(bucket("+Inf"), 5);
  CAF_CHECK_EQUAL(value_of(text, "postbox_handler_duration_seconds_count" + q("q")), 5);
  CAF_CHECK(std::fabs(value_of(text, "postbox_handler_duration_seconds_sum" + q("q")) - 102.028) <
            1e-9);
  CAF_CHECK_EQUAL(value_of(text, "postbox_acks_total" + q("q")), 1);
  CAF_CHECK_EQUAL(value_of(text, "postbox_failures_total" + q("q")), 2);
  CAF_CHECK_EQUAL(value_of(text, "postbox_nacks_total" + q("q")), 1);
  CAF_CHECK_EQUAL(value_of(text, "postbox_poisons_total" + q("q")), 1);
  CAF_CHECK_EQUAL(value_of(text, "postbox_lease_renewals_total" + q("q")), 4);
  CAF_CHECK_EQUAL(value_of(text, "postbox_lease_losses_total" + q("q")), 1);
  CAF_CHECK_EQUAL(value_of(text, "postbox_reaper_runs_total{result=\"swept\"}"), 1);
  CAF_CHECK_EQUAL(value_of(text, "postbox_reaper_rows_total{kind=\"outbox_pruned\"}"), 2);
  CAF_CHECK_EQUAL(value_of(text, "postbox_reaper_rows_total{kind=\"claims_released\"}"), 0);
  CAF_CHECK_EQUAL(check_structure(text), "");
  check_lint(text.substr(1));
}

// Every scrape runs metrics_gauges.sql: on an outbox of many delivered rows and a few
// failed ones it reads no table whole. The failed count used to scan the outbox
// (migration 014 gave it the partial outbox_failed_idx); the actor gauges read the
// keys with work, not the idle ones.
CAF_TEST(the gauges statement scans no outbox) {
  auto dsn = test::create_migrated_database("metrics_plan");
  test::exec(dsn,
             "INSERT INTO postbox.outbox (execution_id, kind, payload, state, delivered_at) "
             "SELECT 'e' || i, 'webhook', '{}', 'delivered', now() "
             "FROM generate_series(1, 20000) i");
  test::exec(dsn,
             "INSERT INTO postbox.outbox (execution_id, kind, payload, state) "
             "SELECT 'f' || i, 'usage', '{}', 'failed' FROM generate_series(1, 3) i");
  // 20,000 idle actors (no head, not blocked) and a few with work: the actor gauges
  // read only the latter, by the partial indexes.
  test::exec(dsn,
             "INSERT INTO postbox.actors (actor_type, actor_key, queue) "
             "SELECT 'idle', 'k' || i, 'keyed' FROM generate_series(1, 20000) i;"
             "INSERT INTO postbox.actors (actor_type, actor_key, queue, head_id, head_since, "
             "blocked_at) SELECT 'busy', 'k' || i, 'keyed', i, now(), CASE WHEN i = 1 THEN now() "
             "END FROM generate_series(1, 5) i;"
             "ANALYZE postbox.actors");
  test::exec(dsn, "ANALYZE postbox.outbox");
  pqxx::connection c{dsn};
  pqxx::nontransaction tx{c};
  tx.exec("PREPARE gauges(text[]) AS " +
          test::read_text(source_path("persistence/sql/metrics_gauges.sql")));
  std::string plan;
  for (const auto& row : tx.exec("EXPLAIN EXECUTE gauges('{work}')"))
    plan += std::string(row[0].c_str()) + "\n";
  CAF_MESSAGE(plan);
  CAF_CHECK_EQUAL(plan.find("Seq Scan on outbox"), std::string::npos);
  CAF_CHECK_NOT_EQUAL(plan.find("outbox_failed_idx"), std::string::npos);
  CAF_CHECK_EQUAL(plan.find("Seq Scan on actors"), std::string::npos);
  auto failed = tx.exec("EXECUTE gauges('{work}')");
  bool seen = false;
  for (const auto& row : failed)
    if (std::string(row[0].c_str()) == "outbox" && std::string(row[1].c_str()) == "usage") {
      CAF_CHECK_EQUAL(row[3].as<double>(), 3.0);
      seen = true;
    }
  CAF_CHECK(seen);
  bool busy = false;
  for (const auto& row : failed)
    if (std::string(row[0].c_str()) == "actor" && std::string(row[1].c_str()) == "busy") {
      CAF_CHECK_EQUAL(row[2].as<double>(), 5.0);
      CAF_CHECK_EQUAL(row[3].as<double>(), 1.0);
      busy = true;
    }
  CAF_CHECK(busy);
}

// Keyed actors per actor type: keys with a backlog, blocked keys and the oldest head's
// age from the database (every registered type, served or not), and the node's own
// turns counter (rate() gives turns/s). The node is the keyed-actor suite's
// (tests/actors_node): tally on queue keyed, skipper on keyed_skip.
CAF_TEST(actor types have their gauges and the node counts its turns) {
  auto dsn = test::create_migrated_database("metrics_actors");
  auto dir = test::make_temp_dir("metrics_actors");
  auto port = test::free_port();
  CAF_REQUIRE_NOT_EQUAL(port, 0);
  test::exec(dsn,
             "CREATE TABLE turns (actor_type text, actor_key text, item text, message_id bigint, "
             "started_us bigint, ended_us bigint, owner text, attempt int, PRIMARY KEY "
             "(actor_type, actor_key, item));"
             "CREATE TABLE poison_keys (actor_key text, n bigint);"
             "INSERT INTO poison_keys VALUES ('held', 1);"
             // A type no node of this test serves: its keys wait.
             "INSERT INTO postbox.actor_types (actor_type, queue) VALUES ('idle', 'nowhere')");
  auto topology = test::write_file(dir + "/actors.yaml", R"(cluster: metrics
database: { dsn: "${POSTBOX_DSN}" }
queues:
  keyed: { visibility_timeout: 3s, max_attempts: 1, poll_interval: 100ms }
  keyed_skip: { visibility_timeout: 3s, poll_interval: 100ms }
nodes:
  m:
    http_port: )" + std::to_string(port) + R"(
    actors:
      - { queue: keyed, concurrency: 2 }
      - { queue: keyed_skip }
)");
  test::node_process node(topology, "m", dsn);
  node.use_binary("postbox-test-actors");
  CAF_REQUIRE(node.start());
  const auto base = "http://127.0.0.1:" + std::to_string(port);
  CAF_REQUIRE(
      test::wait_until([&] { return http_get(base + "/healthz", 1s).status == 200; }, 15s, 100ms));
  auto send = [&](const std::string& type, const std::string& key, int n) {
    test::exec(dsn, "SELECT postbox.send(NULL, 'step', '{\"n\": " + std::to_string(n) +
                        "}', actor_type => '" + type + "', actor_key => '" + key + "')");
  };
  for (int k = 0; k < 3; ++k)
    for (int i = 1; i <= 2; ++i) send("tally", "k" + std::to_string(k), i);
  for (int i = 1; i <= 3; ++i) send("tally", "held", i);
  for (int i = 1; i <= 2; ++i) {
    send("idle", "a", i);
    send("idle", "b", i);
  }
  const auto n = [&](const std::string& sql) { return test::count(dsn, sql); };
  CAF_REQUIRE(test::wait_until(
      [&] {
        return n("SELECT count(*) FROM turns") == 6 &&
               n("SELECT count(*) FROM postbox.actors WHERE blocked_at IS NOT NULL") == 1;
      },
      30s, 100ms));
  auto page = http_get(base + "/metrics", 10s);
  CAF_REQUIRE_EQUAL(page.status, 200);
  const std::string text = "\n" + page.body;
  CAF_CHECK_EQUAL(check_structure(text), "");
  check_lint(page.body);
  auto t = [](const std::string& type) { return "{actor_type=\"" + type + "\"}"; };
  CAF_CHECK_EQUAL(value_of(text, "postbox_actor_turns_total" + t("tally")), 6);
  CAF_CHECK(std::isnan(value_of(text, "postbox_actor_turns_total" + t("idle"))));
  CAF_CHECK_EQUAL(value_of(text, "postbox_actor_keys_blocked" + t("tally")), 1);
  CAF_CHECK_EQUAL(value_of(text, "postbox_actor_keys_backlog" + t("tally")), 1);  // held
  CAF_CHECK_GREATER(value_of(text, "postbox_actor_oldest_head_age_seconds" + t("tally")), 0);
  CAF_CHECK_EQUAL(value_of(text, "postbox_actor_keys_blocked" + t("idle")), 0);
  CAF_CHECK_EQUAL(value_of(text, "postbox_actor_keys_backlog" + t("idle")), 2);
  CAF_CHECK_GREATER(value_of(text, "postbox_actor_oldest_head_age_seconds" + t("idle")), 0);
  // A registered type with nothing queued: zeros, not absent.
  CAF_CHECK_EQUAL(value_of(text, "postbox_actor_keys_backlog" + t("skipper")), 0);
  CAF_CHECK_EQUAL(value_of(text, "postbox_actor_oldest_head_age_seconds" + t("skipper")), 0);
  node.signal(SIGTERM);
  CAF_CHECK_EQUAL(node.wait_exit(15s), 0);
}

CAF_TEST(a node serves metrics that promtool accepts and that match the database) {
  auto dsn = test::create_migrated_database("metrics");
  auto dir = test::make_temp_dir("metrics");
  auto port = test::free_port();
  CAF_REQUIRE_NOT_EQUAL(port, 0);
  auto topology = test::write_file(dir + "/metrics.yaml", R"(cluster: metrics
database: { dsn: "${POSTBOX_DSN}" }
queues:
  work: { visibility_timeout: 3s, max_attempts: 2, poll_interval: 100ms }
programs:
  echo:
    argv: [python3, ")" + source_path("tests/support/programs/echo_program.py") +
                                                              R"("]
    queue: work
    types: [job]
    concurrency: 2
    env: { PYTHONDONTWRITEBYTECODE: "1" }
reaper: { interval: 200ms }
nodes:
  m:
    http_port: )" + std::to_string(port) + R"(
    actors:
      - { program: echo }
      - { role: reaper }
)");
  test::node_process node(topology, "m", dsn);
  CAF_REQUIRE(node.start());
  const auto base = "http://127.0.0.1:" + std::to_string(port);
  CAF_REQUIRE(
      test::wait_until([&] { return http_get(base + "/healthz", 1s).status == 200; }, 15s, 100ms));
  auto send = [&](const std::string& payload) {
    test::exec(
        dsn,
        "SELECT postbox.send('work', 'job', '" + payload +
            "'::jsonb, headers => '{\"on_success\": {\"queue\": \"seen\", \"type\": "
            "\"ok\", \"payload\": {}}, \"on_error\": {\"queue\": \"seen\", \"type\": \"error\", "
            "\"payload\": {}}}')");
  };
  // Three successes (one running across a renewal tick: every vt / 3), one failure charged
  // twice and then dead-lettered (max_attempts 2), one rejected (dead-lettered at once).
  send(R"({"do": "ok", "value": 1})");
  send(R"({"do": "ok", "value": 2})");
  send(R"({"do": "slow", "ms": 2500})");
  send(R"({"do": "error"})");
  send(R"({"do": "reject"})");
  // Waiting in `seen` for an hour: delayed, not ready.
  test::exec(dsn, "SELECT postbox.send('seen', 'later', '{}'::jsonb, delay => '1 hour')");
  CAF_REQUIRE(test::wait_until(
      [&] {
        return test::count(dsn, "SELECT count(*) FROM postbox.mailbox WHERE queue = 'work'") == 0;
      },
      60s, 100ms));
  auto page = http_get(base + "/metrics", 10s);
  CAF_REQUIRE_EQUAL(page.status, 200);
  const std::string text = "\n" + page.body;
  CAF_MESSAGE("/metrics:\n" << page.body);
  CAF_CHECK_EQUAL(check_structure(text), "");
  check_lint(page.body);

  const auto n = [&](const std::string& sql) { return static_cast<double>(test::count(dsn, sql)); };
  // In-process counters: what the node did with queue `work`.
  CAF_CHECK_EQUAL(value_of(text, "postbox_acks_total" + q("work")), 3);
  CAF_CHECK_EQUAL(value_of(text, "postbox_handled_total{queue=\"work\",outcome=\"acked\"}"), 3);
  CAF_CHECK_EQUAL(value_of(text, "postbox_failures_total" + q("work")), 2);
  CAF_CHECK_EQUAL(value_of(text, "postbox_poisons_total" + q("work")), 2);
  CAF_CHECK_EQUAL(value_of(text, "postbox_nacks_total" + q("work")), 0);
  // Every read: 3 successes, 2 failed attempts, the rejection, the exhausted read.
  CAF_CHECK_EQUAL(value_of(text, "postbox_claimed_total" + q("work")), 7);
  // The handler ran for every read but the exhausted one (dead-lettered unrun).
  CAF_CHECK_EQUAL(value_of(text, "postbox_handler_duration_seconds_count" + q("work")), 6);
  CAF_CHECK_EQUAL(
      value_of(text, "postbox_handler_duration_seconds_bucket{queue=\"work\",le=\"+Inf\"}"), 6);
  CAF_CHECK_GREATER_OR_EQUAL(value_of(text, "postbox_handler_duration_seconds_sum" + q("work")),
                             2.5);
  CAF_CHECK_GREATER_OR_EQUAL(value_of(text, "postbox_lease_renewals_total" + q("work")), 1);
  CAF_CHECK_EQUAL(value_of(text, "postbox_lease_losses_total" + q("work")), 0);
  CAF_CHECK_GREATER_OR_EQUAL(value_of(text, "postbox_reaper_runs_total{result=\"swept\"}"), 1);
  CAF_CHECK(!std::isnan(value_of(text, "postbox_reaper_rows_total{kind=\"outbox_pruned\"}")));
  // Database gauges: the same numbers as the tables.
  CAF_CHECK_EQUAL(value_of(text, "postbox_database_up"), 1);
  CAF_CHECK_EQUAL(value_of(text, "postbox_dead_letters" + q("work")),
                  n("SELECT count(*) FROM postbox.dead_letters WHERE queue = 'work'"));
  CAF_CHECK_EQUAL(value_of(text, "postbox_dead_letters" + q("work")), 2);
  CAF_CHECK_EQUAL(value_of(text, "postbox_queue_depth" + q("work")), 0);
  CAF_CHECK_EQUAL(value_of(text, "postbox_queue_in_flight" + q("work")), 0);
  // `seen` is in no topology: found in the mailbox. 3 on_success + 2 on_error ready,
  // one delayed by an hour.
  CAF_CHECK_EQUAL(value_of(text, "postbox_queue_depth" + q("seen")),
                  n("SELECT count(*) FROM postbox.mailbox WHERE queue = 'seen' AND "
                    "visible_at <= now()"));
  CAF_CHECK_EQUAL(value_of(text, "postbox_queue_depth" + q("seen")), 5);
  CAF_CHECK_EQUAL(value_of(text, "postbox_queue_delayed" + q("seen")), 1);
  CAF_CHECK_GREATER(value_of(text, "postbox_queue_oldest_ready_age_seconds" + q("seen")), 0);
  CAF_CHECK_EQUAL(value_of(text, "postbox_queue_oldest_ready_age_seconds" + q("work")), 0);
  CAF_CHECK_EQUAL(value_of(text, "postbox_claims_active"), 0);
  CAF_CHECK_EQUAL(value_of(text, "postbox_outbox_pending{kind=\"webhook\"}"), 0);
  CAF_CHECK_EQUAL(value_of(text, "postbox_outbox_failed{kind=\"usage\"}"), 0);

  // A database that does not answer (the mailbox locked away) makes that scrape say
  // postbox_database_up 0 in seconds; the node's own counters are still there.
  {
    pqxx::connection blocker{test::as_key_value(dsn)};
    pqxx::work tx{blocker};
    tx.exec("LOCK TABLE postbox.mailbox IN ACCESS EXCLUSIVE MODE");
    const auto started = std::chrono::steady_clock::now();
    auto blocked = http_get(base + "/metrics", 10s);
    const auto took = std::chrono::steady_clock::now() - started;
    tx.abort();
    CAF_CHECK_EQUAL(blocked.status, 200);
    CAF_CHECK(took < 5s);
    const std::string btext = "\n" + blocked.body;
    CAF_CHECK_EQUAL(value_of(btext, "postbox_database_up"), 0);
    CAF_CHECK(std::isnan(value_of(btext, "postbox_queue_depth" + q("work"))));
    CAF_CHECK_EQUAL(value_of(btext, "postbox_acks_total" + q("work")), 3);
    CAF_CHECK_EQUAL(check_structure(btext), "");
    check_lint(blocked.body);
  }
  CAF_CHECK(test::wait_until(
      [&] {
        return value_of("\n" + http_get(base + "/metrics", 10s).body, "postbox_database_up") == 1;
      },
      10s, 200ms));
  node.signal(SIGTERM);
  CAF_CHECK_EQUAL(node.wait_exit(15s), 0);
}

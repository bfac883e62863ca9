// postbox-bench-actors: keyed actors next to plain messages and to raw SQL, in the same
// run on the same server (make bench-actors, scripts/bench_actors.sh).
//
// A client here does what a node's consumer and worker do, without the actor system:
// (keyed queues) the promotion of woken keys (actor_store::promote), the claim
// (mailbox_store::read, `--batch` at a time), then one commit per delivery
// (commit_success: the ack, and for a keyed message its new state, fenced by the
// version the claim returned). Cases:
//   1. throughput on one queue: a backlog of plain messages, then the same backlog as
//      keyed messages over `--keys` keys; msg/s each and keyed / plain (goal >= 0.7).
//   2. a hot key: one key's backlog, every client on it; turns/s (at most one head).
//   Beside each, the raw-SQL limit: pgbench -T -M prepared running the same statements
//   (the promotion's call, the claim, the ack and the state write) for the same seconds
//   with the same clients on a freshly filled copy of the same backlog (batch 1 only).
//   3. a hot key with `--hot` queued messages beside `--cold` cold keys (one message
//      each): the time each claim takes and the time until every cold key's message is
//      handled, without and with the hot backlog; then EXPLAIN (ANALYZE, BUFFERS) of the
//      claim (generic plan, as a long-lived session runs it) and of the promotion's
//      statements with the hot backlog in place.
// Prints figures; never asserts on them.
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <memory>
#include <optional>
#include <pqxx/pqxx>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "actors/runtime/promotion_pacer.hpp"
#include "persistence/actor_store.hpp"
#include "persistence/handled_commit.hpp"
#include "persistence/mailbox_store.hpp"
#include "persistence/migrator.hpp"
#include "persistence/pg_session.hpp"
#include "persistence/sql_registry.hpp"

using namespace postbox;
using namespace std::chrono_literals;
using clock_type = std::chrono::steady_clock;

namespace {

struct options {
  std::string dsn;
  int seconds = 5;
  int backlog = 100000;
  int keys = 1000;
  int clients = 4;
  int batch = 1;
  int hot = 100000;
  int cold = 1000;
  bool quick = false;  // postbox only, briefly
  /// Promote before every claim (as before promotion_pacer) instead of as the node does.
  bool promote_every_claim = false;
};

const char* lease_owner = "bench";
const char* actor_type = "bench_account";
constexpr auto visibility_timeout = 30s;
constexpr int32_t promote_batch = 500;  // as the node's consumer

std::optional<options> parse_options(int argc, char** argv) {
  options o;
  if (const char* env = std::getenv("POSTBOX_DSN")) o.dsn = env;
  std::optional<int> seconds, backlog, hot;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    bool has_value = i + 1 < argc;
    auto number = [&](int min) { return std::max(min, std::atoi(argv[++i])); };
    if (a == "--dsn" && has_value)
      o.dsn = argv[++i];
    else if (a == "--seconds" && has_value)
      seconds = number(1);
    else if (a == "--backlog" && has_value)
      backlog = number(100);
    else if (a == "--keys" && has_value)
      o.keys = number(1);
    else if (a == "--clients" && has_value)
      o.clients = number(1);
    else if (a == "--batch" && has_value)
      o.batch = number(1);
    else if (a == "--hot" && has_value)
      hot = number(1);
    else if (a == "--cold" && has_value)
      o.cold = number(1);
    else if (a == "--quick")
      o.quick = true;
    else if (a == "--promote-every-claim")
      o.promote_every_claim = true;
    else
      return std::nullopt;
  }
  o.seconds = seconds.value_or(o.quick ? 2 : o.seconds);
  o.backlog = backlog.value_or(o.quick ? 20000 : o.backlog);
  o.hot = hot.value_or(o.quick ? 20000 : o.hot);
  return o;
}

double seconds_since(clock_type::time_point t) {
  return std::chrono::duration<double>(clock_type::now() - t).count();
}

pqxx::result exec_sql(const std::string& dsn, const std::string& text) {
  pqxx::connection c{dsn};
  pqxx::nontransaction n{c};
  return n.exec(text);
}

std::string quoted(const std::string& s) {
  return "'" + s + "'";
}

/// Empties everything this run left on `queue` (messages, keys) and VACUUMs.
void reset(const options& o, const std::string& queue) {
  exec_sql(o.dsn, "DELETE FROM postbox.mailbox WHERE queue = " + quoted(queue));
  exec_sql(o.dsn, "DELETE FROM postbox.actors WHERE queue = " + quoted(queue));
  exec_sql(o.dsn, "DELETE FROM postbox.actor_seqs WHERE queue = " + quoted(queue));
  exec_sql(o.dsn, "VACUUM postbox.mailbox, postbox.actors, postbox.actor_seqs");
}

/// `n` messages on `queue`: plain (keys = 0), or keyed round robin over `keys` keys
/// (so every key has n / keys, numbered in order by the send trigger).
void fill(const options& o, const std::string& queue, int n, int keys,
          const std::string& key_prefix = "k") {
  const std::string actor = keys == 0 ? "NULL, NULL"
                                      : quoted(actor_type) + ", " + quoted(key_prefix) +
                                            " || (i % " + std::to_string(keys) + ")";
  // In transactions of at most 100 messages per key: every send to a key updates its
  // actor_seqs row, and within one transaction each update walks the versions that
  // transaction made before (quadratic in the sends to one key per transaction).
  const int step = keys == 0 ? n : std::max(1, std::min(n, 100 * keys));
  for (int from = 1; from <= n; from += step)
    exec_sql(o.dsn,
             "INSERT INTO postbox.mailbox (queue, type, payload, actor_type, actor_key) SELECT " +
                 quoted(queue) + ", 'bench', jsonb_build_object('n', i), " + actor +
                 " FROM generate_series(" + std::to_string(from) + ", " +
                 std::to_string(std::min(n, from + step - 1)) + ") i ORDER BY i");
  exec_sql(o.dsn, "ANALYZE postbox.mailbox, postbox.actors, postbox.actor_seqs");
}

int64_t depth(const options& o, const std::string& queue) {
  return exec_sql(o.dsn,
                  "SELECT count(*) FROM postbox.mailbox WHERE queue = " + quoted(queue))[0][0]
      .as<int64_t>();
}

/// One client's loop step: promote (keyed), claim, commit each delivery; how many it
/// handled (0: nothing to claim now), or nullopt on an error.
struct client {
  pg_session session;
  mailbox_store mailbox{session};
  actor_store actors{session};
  std::vector<double> claim_ms;  // per claim (the promotion included), when recorded
  promotion_pacer pacer;         // as the node's consumer

  client(const options& o) : session(session_options{o.dsn, "bench-actors"}) {
    if (auto err = session.connect()) throw std::runtime_error(describe(err));
  }

  std::optional<int> round(const options& o, const std::string& queue, bool keyed,
                           bool record = false) {
    const auto started = clock_type::now();
    if (keyed && (o.promote_every_claim || pacer.due(started))) {
      if (auto made = actors.promote(queue, promote_batch); !made) {
        std::cerr << "promote: " << describe(made.error()) << "\n";
        return std::nullopt;
      }
      pacer.promoted(started);
    }
    auto got = mailbox.read(queue, o.batch, visibility_timeout, lease_owner);
    if (!got) {
      std::cerr << "read: " << describe(got.error()) << "\n";
      return std::nullopt;
    }
    pacer.claimed(static_cast<int>(got->size()), o.batch);
    if (record) claim_ms.push_back(seconds_since(started) * 1000);
    for (const auto& d : *got) {
      success_commit c;
      c.delivery = d.to_lease();
      if (!d.actor_key.empty())
        c.actor_state = actor_state_write{d.actor_type, d.actor_key, d.actor_state_version,
                                          R"({"last":)" + std::to_string(d.id) + "}"};
      auto r = commit_success(session, c);
      if (!r) {
        std::cerr << "commit: " << describe(r.error()) << "\n";
        return std::nullopt;
      }
    }
    return static_cast<int>(got->size());
  }
};

struct side_result {
  double msgs_per_s = 0;
  bool ran_dry = false;
};

/// postbox's side: C clients for `seconds` (or until `until` says stop).
side_result run_postbox(const options& o, const std::string& queue, bool keyed) {
  std::vector<std::unique_ptr<client>> clients;
  for (int i = 0; i < o.clients; ++i) clients.push_back(std::make_unique<client>(o));
  std::vector<long> done(o.clients, 0);
  std::vector<std::thread> threads;
  const auto start = clock_type::now();
  const auto deadline = start + std::chrono::seconds(o.seconds);
  for (int i = 0; i < o.clients; ++i)
    threads.emplace_back([&, i] {
      while (clock_type::now() < deadline) {
        auto n = clients[i]->round(o, queue, keyed);
        if (!n) break;
        // A hot key has one head: the others find nothing for a moment; go on.
        done[i] += *n;
      }
    });
  for (auto& t : threads) t.join();
  const double elapsed = seconds_since(start);
  long total = 0;
  for (long n : done) total += n;
  return {total / elapsed, depth(o, queue) == 0};
}

std::string pgbench_binary() {
  for (const char* p : {"/usr/lib/postgresql/15/bin/pgbench", "/usr/bin/pgbench"})
    if (access(p, X_OK) == 0) return p;
  return "pgbench";
}

/// The raw side's script: the same statements as a client's round at batch 1. The
/// claim is mailbox_read.sql's own-queue part with its RETURNING of the actor's
/// version; the ack is mailbox_ack.sql; the state write actor_state_put.sql.
std::string raw_script(bool keyed) {
  std::string s;
  if (keyed) s += "SELECT postbox.actor_promote(:queue, 500);\n";
  // One row always (\\gset needs it): id 0 when nothing was claimable (a hot key's
  // head taken by another client), and the statements below then change nothing.
  s += "WITH own AS (SELECT id FROM postbox.mailbox WHERE queue = :queue AND visible_at <= now()\n"
       "  ORDER BY visible_at, id LIMIT 1 FOR UPDATE SKIP LOCKED),\n"
       "claimed AS (UPDATE postbox.mailbox m SET visible_at = now() + interval '30 seconds',\n"
       "  read_ct = m.read_ct + 1, receipt = nextval('postbox.receipt_seq'), lease_owner = 'raw'\n"
       "WHERE m.id = ANY (ARRAY(SELECT id FROM own))\n"
       "RETURNING m.id, m.receipt, m.actor_type AS t, m.actor_key AS k,\n"
       "  (SELECT a.state_version FROM postbox.actors a WHERE a.actor_type =\n"
       "   m.actor_type AND a.actor_key = m.actor_key) AS v)\n"
       "SELECT coalesce(max(id), 0) AS id, coalesce(max(receipt), 0) AS receipt,\n"
       "  coalesce(max(t), '') AS t, coalesce(max(k), '') AS k, coalesce(max(v), -1) AS v\n"
       "FROM claimed \\gset\n"
       "BEGIN;\n"
       "DELETE FROM postbox.mailbox WHERE id = :id AND receipt = :receipt;\n";
  if (keyed)
    s += "UPDATE postbox.actors SET state = jsonb_build_object('last', :id::bigint),\n"
         "  state_version = state_version + 1, updated_at = now()\n"
         "  WHERE actor_type = :t AND actor_key = :k AND state_version = :v;\n";
  s += "COMMIT;\n";
  return s;
}

/// pgbench -T on `queue`: messages handled / s (counted in the table, as a claim that
/// found nothing, on a hot key, is a transaction too).
side_result run_raw(const options& o, const std::string& queue, bool keyed, int64_t filled) {
  char path[] = "/tmp/postbox-bench-actors-XXXXXX.sql";
  int fd = mkstemps(path, 4);
  if (fd < 0) throw std::runtime_error("cannot create the pgbench script file");
  close(fd);
  std::ofstream(path) << raw_script(keyed);
  // The same session settings as postbox's own (pg_session: jit off).
  const std::string cmd = "PGOPTIONS='-c jit=off' " + pgbench_binary() + " -n -M prepared -T " +
                          std::to_string(o.seconds) + " -c " + std::to_string(o.clients) + " -j " +
                          std::to_string(o.clients) + " -D queue=" + queue + " -f " + path + " '" +
                          o.dsn + "' 2>&1";
  const auto start = clock_type::now();
  if (FILE* p = popen(cmd.c_str(), "r")) {
    char buf[4096];
    while (fgets(buf, sizeof buf, p))
      if (std::string(buf).find("error") != std::string::npos) std::cerr << "pgbench: " << buf;
    pclose(p);
  }
  unlink(path);
  const double elapsed = std::min(seconds_since(start), static_cast<double>(o.seconds));
  const int64_t left = depth(o, queue);
  return {static_cast<double>(filled - left) / elapsed, left == 0};
}

void print_row(const char* label, const side_result& ours, const std::optional<side_result>& raw,
               const char* extra = "") {
  std::printf("  %-34s %12.0f", label, ours.msgs_per_s);
  if (raw && raw->msgs_per_s > 0)
    std::printf(" %12.0f %7.2fx", raw->msgs_per_s, ours.msgs_per_s / raw->msgs_per_s);
  else
    std::printf(" %12s %8s", raw ? "failed" : "-", "-");
  std::printf("  %s\n", extra);
  if (ours.ran_dry) std::printf("    warning: postbox emptied its backlog: a lower bound\n");
  if (raw && raw->ran_dry) std::printf("    warning: raw SQL emptied its backlog: a lower bound\n");
  std::fflush(stdout);
}

/// One measured case: fill, run postbox; fill again, run pgbench.
std::pair<side_result, std::optional<side_result>> measure(const options& o,
                                                           const std::string& queue, int n,
                                                           int keys) {
  reset(o, queue);
  fill(o, queue, n, keys);
  auto ours = run_postbox(o, queue, keys > 0);
  std::optional<side_result> raw;
  if (!o.quick && o.batch == 1) {
    reset(o, queue);
    fill(o, queue, n, keys);
    raw = run_raw(o, queue, keys > 0, n);
  }
  return {ours, raw};
}

double percentile(std::vector<double> xs, double p) {
  if (xs.empty()) return 0;
  std::sort(xs.begin(), xs.end());
  return xs[std::min(xs.size() - 1, static_cast<size_t>(p * static_cast<double>(xs.size())))];
}

struct cold_result {
  double drain_s = 0;  // until every cold key's message was handled
  std::vector<double> claim_ms;
  long hot_turns = 0;
};

/// The cold keys' messages (one each), sent at once, then C clients until every one
/// of them is handled (the hot key's head is claimed and handled among them).
cold_result run_cold(const options& o, const std::string& queue) {
  std::vector<std::unique_ptr<client>> clients;
  for (int i = 0; i < o.clients; ++i) clients.push_back(std::make_unique<client>(o));
  fill(o, queue, o.cold, o.cold, "cold");
  const auto cold_left = [&] {
    return exec_sql(o.dsn, "SELECT count(*) FROM postbox.mailbox WHERE queue = " + quoted(queue) +
                               " AND actor_key LIKE 'cold%'")[0][0]
        .as<int64_t>();
  };
  const int64_t hot_before = depth(o, queue) - o.cold;
  const auto start = clock_type::now();
  std::vector<std::thread> threads;
  std::vector<bool> stop(1, false);
  for (int i = 0; i < o.clients; ++i)
    threads.emplace_back([&, i] {
      while (!stop[0] && seconds_since(start) < 120)
        if (!clients[i]->round(o, queue, true, true)) break;
    });
  while (cold_left() > 0 && seconds_since(start) < 120) std::this_thread::sleep_for(2ms);
  cold_result r;
  r.drain_s = seconds_since(start);
  stop[0] = true;
  for (auto& t : threads) t.join();
  for (auto& c : clients)
    r.claim_ms.insert(r.claim_ms.end(), c->claim_ms.begin(), c->claim_ms.end());
  r.hot_turns = hot_before - (depth(o, queue) - cold_left());
  return r;
}

void print_cold(const char* label, const cold_result& r, int cold) {
  std::printf("  %-26s %9.3f s %10.0f %9.3f %9.3f %9zu %9ld\n", label, r.drain_s, cold / r.drain_s,
              percentile(r.claim_ms, 0.5), percentile(r.claim_ms, 0.99), r.claim_ms.size(),
              r.hot_turns);
  std::fflush(stdout);
}

/// EXPLAIN (ANALYZE, BUFFERS) of `statement` in a transaction rolled back.
void explain(const options& o, const std::string& title, const std::string& setup,
             const std::string& statement) {
  pqxx::connection c{o.dsn};
  pqxx::work w{c};
  if (!setup.empty()) w.exec(setup);
  std::printf("\n  -- %s\n", title.c_str());
  for (const auto& row : w.exec("EXPLAIN (ANALYZE, BUFFERS) " + statement))
    std::printf("  %s\n", row[0].c_str());
  w.abort();
}

void cold_keys_case(const options& o, const std::string& queue) {
  std::printf(
      "\n3. cold keys beside a hot key: %d cold keys (1 message each), %d clients, batch %d\n"
      "  %-26s %11s %10s %9s %9s %9s %9s\n",
      o.cold, o.clients, o.batch, "", "cold done", "cold/s", "claim p50", "claim p99", "claims",
      "hot turns");
  reset(o, queue);
  print_cold("without a hot backlog", run_cold(o, queue), o.cold);
  reset(o, queue);
  fill(o, queue, o.hot, 1, "hot");
  const std::string hot_label = "with a hot key of " + std::to_string(o.hot);
  print_cold(hot_label.c_str(), run_cold(o, queue), o.cold);
  // Plans with the hot backlog in place (less what the run above handled of it) and
  // the cold keys back, each with its one message.
  fill(o, queue, o.cold, o.cold, "cold");
  std::printf("\n  plans with %ld messages queued on the hot key, %d cold keys with one each:",
              static_cast<long>(depth(o, queue) - o.cold), o.cold);
  std::string claim = sql::query("mailbox_read");
  explain(
      o, "the claim (mailbox_read.sql, generic plan), batch 16",
      "SET LOCAL plan_cache_mode = force_generic_plan; PREPARE claim AS " + claim,
      "EXECUTE claim(" + quoted(queue) + ", 16, 30000, 'bench', 'bench', NULL, NULL, 0, 10000)");
  explain(o, "the promotion: postbox.actor_promote(queue, 500), the keys the sends woke", "",
          "SELECT postbox.actor_promote(" + quoted(queue) + ", 500)");
  explain(o, "inside it: the woken keys of the queue (actor_seqs_wake_idx)",
          "UPDATE postbox.actor_seqs SET wake = true WHERE queue = " + quoted(queue),
          "SELECT s.actor_type, s.actor_key FROM postbox.actor_seqs s WHERE s.queue = " +
              quoted(queue) +
              " AND s.wake ORDER BY s.actor_type, s.actor_key LIMIT 500 FOR UPDATE SKIP LOCKED");
  explain(o, "inside it and the ack's trigger: the hot key's next message (mailbox_actor_idx)", "",
          "SELECT m.id FROM postbox.mailbox m WHERE m.actor_type = " + quoted(actor_type) +
              " AND m.actor_key = 'hot0' ORDER BY m.actor_seq LIMIT 1");
  reset(o, queue);
}

}  // namespace

int main(int argc, char** argv) {
  auto parsed = parse_options(argc, argv);
  if (!parsed) {
    std::cerr
        << "usage: postbox-bench-actors --dsn DSN [--seconds S] [--backlog N] [--keys K] "
           "[--clients C] [--batch B] [--hot N] [--cold K] [--quick] [--promote-every-claim]\n";
    return 2;
  }
  const options o = *parsed;
  if (o.dsn.empty()) {
    std::cerr << "postbox-bench-actors: no database: pass --dsn or set POSTBOX_DSN\n";
    return 2;
  }
  try {
    pg_session admin{{o.dsn, "bench-admin"}};
    if (auto r = migrate(admin); !r) {
      std::cerr << "postbox-bench-actors: migrate failed: " << describe(r.error()) << "\n";
      return 1;
    }
    const std::string queue = "pb_actors_" + std::to_string(getpid());
    exec_sql(o.dsn, "INSERT INTO postbox.actor_types (actor_type, queue) VALUES (" +
                        quoted(actor_type) + ", " + quoted(queue) +
                        ") ON CONFLICT (actor_type) DO UPDATE SET queue = excluded.queue");
    std::printf(
        "postbox keyed-actor benchmark: each side %d s, %d clients, claim batch %d; a turn "
        "commits its ack\n(and a keyed one its state) in one transaction, as a worker does\n",
        o.seconds, o.clients, o.batch);
    if (o.quick || o.batch != 1)
      std::printf("raw SQL: skipped (%s)\n", o.quick ? "--quick" : "batch > 1");
    else
      std::printf(
          "raw SQL = pgbench -T %d -c %d -M prepared, same server, same run: the same "
          "statements\n(promotion call, claim, ack, state write), its own copy of the same "
          "backlog\n",
          o.seconds, o.clients);
    std::printf(
        "\n1. one queue, %d messages: plain, then keyed over %d keys\n  %-34s %12s %12s %8s\n",
        o.backlog, o.keys, "case", "postbox/s", "raw SQL/s", "ratio");
    auto plain = measure(o, queue, o.backlog, 0);
    print_row("plain messages", plain.first, plain.second);
    auto keyed = measure(o, queue, o.backlog, o.keys);
    char ratio[64];
    std::snprintf(ratio, sizeof ratio, "keyed / plain = %.2f",
                  keyed.first.msgs_per_s / std::max(1.0, plain.first.msgs_per_s));
    print_row("keyed messages", keyed.first, keyed.second, ratio);
    std::printf("\n2. a hot key: %d messages to one key, every client on it\n", o.backlog);
    auto hot = measure(o, queue, o.backlog, 1);
    print_row("hot key turns", hot.first, hot.second);
    cold_keys_case(o, queue);
    exec_sql(o.dsn, "DELETE FROM postbox.actor_types WHERE actor_type = " + quoted(actor_type));
  } catch (const std::exception& e) {
    std::cerr << "postbox-bench-actors: " << e.what() << "\n";
    return 1;
  }
  return 0;
}

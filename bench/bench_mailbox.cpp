// postbox-bench: mailbox throughput next to raw SQL doing the same work, in the
// same run on the same server. Three cases: send_batch of 100, read+ack at
// batch 1 (read → ack), read+ack at batch 100 (read → ack_batch).
//
// Each case runs two sides under the same conditions: the case's queue is
// emptied, postbox.mailbox is VACUUMed, and the queue is prefilled with the
// same backlog (--backlog N rows, default 400000) before each side starts; each
// side then runs for the same duration (--seconds S, default 10) with the same
// number of clients (--clients C, default 4), each client on its own connection.
//   postbox: C threads, each with its own pg_session and mailbox_store, loop
//            until the deadline; msg/s = messages acked (or sent) / elapsed s.
//   raw SQL: pgbench -T S -c C -M prepared, a script of the same statements:
//            the claim is mailbox_read.sql's UPDATE ... FOR UPDATE SKIP LOCKED
//            without the orphan-sweep CTE (postbox's read passes no topology,
//            so that CTE claims nothing); ack, ack_batch and send_batch are the
//            text of persistence/sql/*.sql itself. msg/s = pgbench's tps
//            (without connection time) × messages moved per transaction.
// A side that empties its backlog before the time is up gets a warning: its
// figure is then a lower bound. --quick skips pgbench and runs 2 s on a backlog
// of 50000. Prints figures; never asserts on them.
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

#include "persistence/detail/tx_context.hpp"
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
  int seconds = 10;
  int backlog = 400000;
  int clients = 4;
  bool quick = false;  // postbox's side only, briefly (a smoke run)
};

enum class operation { send_batch, read_ack };

struct bench_case {
  const char* label;
  const char* key;  // names the case's queue
  operation op;
  int batch;
  /// Claimed through postbox.claim_limited (migration 025) under a queue limit that
  /// never binds: 1 max_in_flight 1000, 2 also rate 1,000,000/s. The cost of admission.
  int limited = 0;
};

const bench_case all_cases[] = {
    {"send_batch (100)", "send", operation::send_batch, 100},
    {"read+ack batch 1", "one", operation::read_ack, 1},
    {"read+ack batch 100", "hundred", operation::read_ack, 100},
};

/// The claim with limits beside the plain one (postbox's side only; raw SQL has no
/// such shape): the ratio limited / plain is printed under the table.
const bench_case limited_cases[] = {
    {"read+ack batch 1", "one", operation::read_ack, 1},
    {"  max_in_flight", "one_slots", operation::read_ack, 1, 1},
    {"  + rate", "one_rate", operation::read_ack, 1, 2},
    {"read+ack batch 16", "sixteen", operation::read_ack, 16},
    {"  max_in_flight", "sixteen_slots", operation::read_ack, 16, 1},
    {"  + rate", "sixteen_rate", operation::read_ack, 16, 2},
};

/// One side's figure; ran_dry: its backlog was empty before the time was up.
struct side_result {
  double msgs_per_s = 0;
  bool ran_dry = false;
};

const char* lease_owner = "bench";
constexpr auto visibility_timeout = 30s;

std::optional<options> parse_options(int argc, char** argv) {
  options o;
  if (const char* env = std::getenv("POSTBOX_DSN")) o.dsn = env;
  std::optional<int> seconds, backlog;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    bool has_value = i + 1 < argc;
    if (a == "--dsn" && has_value)
      o.dsn = argv[++i];
    else if (a == "--seconds" && has_value)
      seconds = std::max(1, std::atoi(argv[++i]));
    else if (a == "--backlog" && has_value)
      backlog = std::max(100, std::atoi(argv[++i]));
    else if (a == "--clients" && has_value)
      o.clients = std::max(1, std::atoi(argv[++i]));
    else if (a == "--quick")
      o.quick = true;
    else
      return std::nullopt;
  }
  o.seconds = seconds.value_or(o.quick ? 2 : o.seconds);
  o.backlog = backlog.value_or(o.quick ? 50000 : o.backlog);
  return o;
}

double seconds_since(clock_type::time_point t) {
  return std::chrono::duration<double>(clock_type::now() - t).count();
}

/// Runs `text` outside a transaction (VACUUM needs that).
pqxx::result sql(const std::string& dsn, const std::string& text) {
  pqxx::connection c{dsn};
  pqxx::nontransaction n{c};
  return n.exec(text);
}

/// Deletes every row this run left (queues starting with `prefix`) and VACUUMs.
void reset_table(const options& o, const std::string& prefix) {
  sql(o.dsn, "DELETE FROM postbox.mailbox WHERE starts_with(queue, '" + prefix + "')");
  sql(o.dsn, "DELETE FROM postbox.limits WHERE starts_with(key, '" + prefix + "')");
  sql(o.dsn, "VACUUM postbox.mailbox");
}

/// Prefills `queue` with the backlog, the same rows send_batch_of() sends; `mixed`: the
/// four priority tiers in turn (i % 4), else all normal.
void fill_backlog(const options& o, const std::string& queue, bool mixed = false) {
  sql(o.dsn, "INSERT INTO postbox.mailbox (queue, type, execution_id, payload, priority) SELECT '" +
                 queue + "', 'bench', 'e-' || i, jsonb_build_object('n', i), " +
                 (mixed ? "i % 4" : "1") + " FROM generate_series(1, " + std::to_string(o.backlog) +
                 ") i");
  sql(o.dsn, "ANALYZE postbox.mailbox");
}

/// A queue limit that never binds here (1000 slots; with `rate` 1,000,000 tokens/s): the bench
/// measures is the admission's own cost.
void limit_queue(const options& o, const std::string& queue, bool rate) {
  sql(o.dsn,
      "INSERT INTO postbox.limits (scope, key, max_in_flight, rate, burst) VALUES "
      "('queue', '" +
          queue + "', 1000, " + (rate ? "1000000, 1000000" : "NULL, NULL") + ")");
  sql(o.dsn, "INSERT INTO postbox.limit_slots (scope, key, slot) SELECT 'queue', '" + queue +
                 "', g FROM generate_series(1, 1000) g");
}

int64_t depth(const options& o, const std::string& queue) {
  return sql(o.dsn, "SELECT count(*) FROM postbox.mailbox WHERE queue = '" + queue + "'")[0][0]
      .as<int64_t>();
}

/// The batch both sides send: `n` messages of type bench, payload {"n": i}.
std::vector<outgoing_message> send_batch_of(const std::string& queue, int n) {
  std::vector<outgoing_message> batch(n);
  for (int i = 0; i < n; ++i) {
    batch[i].queue = queue;
    batch[i].type = "bench";
    batch[i].execution_id = "e-" + std::to_string(i);
    batch[i].payload = R"({"n":)" + std::to_string(i) + "}";
  }
  return batch;
}

/// One round of a postbox client: the messages it sent or acked, or nullopt to
/// stop (the queue had nothing to read, or a call failed).
std::optional<int> postbox_round(mailbox_store& mb, const bench_case& c, const std::string& queue,
                                 const std::vector<outgoing_message>& batch) {
  if (c.op == operation::send_batch) {
    auto sent = mb.send_batch(batch);
    if (!sent) std::cerr << "send_batch: " << describe(sent.error()) << "\n";
    return sent ? std::optional<int>(static_cast<int>(sent->size())) : std::nullopt;
  }
  auto got = mb.read(queue, c.batch, visibility_timeout, lease_owner, {}, nullptr, nullptr,
                     std::chrono::seconds(6), c.limited > 0);
  if (!got) std::cerr << "read: " << describe(got.error()) << "\n";
  if (!got || got->empty()) return std::nullopt;
  if (c.batch == 1) {
    auto err = mb.ack(got->front().to_lease());
    if (err) std::cerr << "ack: " << describe(err) << "\n";
    return err ? 0 : 1;
  }
  std::vector<lease> leases;
  for (const auto& d : *got) leases.push_back(d.to_lease());
  auto acked = mb.ack_batch(leases);
  if (!acked) std::cerr << "ack_batch: " << describe(acked.error()) << "\n";
  return acked ? static_cast<int>(acked->acked.size()) : 0;
}

/// postbox's side: C connected sessions, then C threads looping until the deadline.
side_result run_postbox(const options& o, const bench_case& c, const std::string& queue) {
  std::vector<std::unique_ptr<pg_session>> sessions;
  for (int i = 0; i < o.clients; ++i) {
    sessions.push_back(std::make_unique<pg_session>(session_options{o.dsn, "bench-postbox"}));
    if (auto err = sessions.back()->connect()) throw std::runtime_error(describe(err));
  }
  const auto batch = send_batch_of(queue, c.batch);
  std::vector<long> done(o.clients, 0);
  std::vector<std::thread> threads;
  const auto start = clock_type::now();
  const auto deadline = start + std::chrono::seconds(o.seconds);
  for (int i = 0; i < o.clients; ++i)
    threads.emplace_back([&, i] {
      mailbox_store mb{*sessions[i]};
      while (clock_type::now() < deadline) {
        auto n = postbox_round(mb, c, queue, batch);
        if (!n) break;
        done[i] += *n;
      }
    });
  for (auto& t : threads) t.join();
  const double elapsed = seconds_since(start);
  long total = 0;
  for (long n : done) total += n;
  return {total / elapsed, c.op == operation::read_ack && depth(o, queue) == 0};
}

/// Statement `name` of persistence/sql/ as pgbench runs it: comment lines
/// dropped, $1, $2, ... replaced by the pgbench variables `vars` (in order).
std::string pgbench_statement(const char* name, const std::vector<std::string>& vars) {
  std::string text, line;
  std::istringstream in{sql::query(name)};
  while (std::getline(in, line))
    if (line.rfind("--", 0) != 0) text += line + "\n";
  for (size_t k = vars.size(); k >= 1; --k) {
    const std::string param = "$" + std::to_string(k);
    for (size_t at; (at = text.find(param)) != std::string::npos;)
      text.replace(at, param.size(), ":" + vars[k - 1]);
  }
  while (!text.empty() && (text.back() == '\n' || text.back() == ' ')) text.pop_back();
  return text;
}

/// The claim as mailbox_read.sql runs it when no topology is given (its
/// orphans CTE claims nothing then, and $6, the types, is NULL): one index range
/// per priority tier, urgent first, then the same UPDATE, SET and RETURNING.
std::string raw_claim() {
  std::string own = "WITH own AS (\n";
  for (int k = 3; k >= 0; --k)
    own += std::string(k == 3 ? "" : "  UNION ALL\n") +
           "  SELECT id FROM (SELECT id FROM postbox.mailbox\n"
           "  WHERE queue = :queue AND priority = " +
           std::to_string(k) +
           " AND visible_at <= now()\n"
           "  ORDER BY visible_at, id LIMIT :batch::int FOR UPDATE SKIP LOCKED) t" +
           std::to_string(k) + "\n";
  return own +
         "  LIMIT :batch::int)\n"
         "UPDATE postbox.mailbox m\n"
         "SET visible_at = now() + :vt::bigint * interval '1 millisecond',\n"
         "    read_ct = m.read_ct + 1,\n"
         "    receipt = nextval('postbox.receipt_seq'),\n"
         "    lease_owner = :owner,\n"
         "    suspect = m.suspect OR m.receipt IS NOT NULL,\n"
         "    attempts = m.attempts + (m.receipt IS NOT NULL AND m.alone_on IS DISTINCT FROM\n"
         "                             :owner::text AND m.alone_on IS NOT NULL)::int,\n"
         "    last_error = CASE WHEN m.receipt IS NOT NULL AND m.alone_on IS DISTINCT FROM\n"
         "                           :owner::text AND m.alone_on IS NOT NULL\n"
         "                      THEN 'crashed its node while running alone (on ' ||\n"
         "                           m.alone_on || ')'\n"
         "                      ELSE m.last_error END,\n"
         "    alone_on = NULL\n"
         "FROM own c\n"
         "WHERE m.id = c.id\n"
         "RETURNING m.id, m.receipt, m.queue, m.type, m.execution_id, m.org, m.payload::text,\n"
         "          m.headers::text, m.read_ct, m.last_error,\n"
         "          extract(epoch FROM m.enqueued_at)::float8 AS enqueued_epoch,\n"
         "          m.attempts, m.suspect";
}

/// The pgbench script of one transaction of case `c`. \gset takes one row, so
/// at batch 100 the claimed rows come back aggregated into arrays.
std::string raw_script(const bench_case& c) {
  if (c.op == operation::send_batch)
    return pgbench_statement("mailbox_send_batch",
                             {"q", "t", "e", "o", "p", "h", "d", "at", "ak", "pr"}) +
           ";\n";
  if (c.batch == 1)
    return raw_claim() + " \\gset\n" + pgbench_statement("mailbox_ack", {"id", "receipt"}) + ";\n";
  return "WITH u AS (\n" + raw_claim() +
         ")\nSELECT array_agg(id) AS ids, array_agg(receipt) AS receipts, array_agg(payload) AS "
         "payloads FROM u \\gset\n" +
         pgbench_statement("mailbox_ack_batch", {"ids", "receipts"}) + ";\n";
}

/// The script's variables (pgbench -D name=value): its parameters, as postbox binds them.
std::vector<std::pair<std::string, std::string>> raw_variables(const bench_case& c,
                                                               const std::string& queue) {
  if (c.op == operation::read_ack)
    return {{"queue", queue},
            {"batch", std::to_string(c.batch)},
            {"vt", std::to_string(std::chrono::milliseconds(visibility_timeout).count())},
            {"owner", lease_owner}};
  std::vector<std::optional<std::string>> q, t, e, o, p, h, none;
  std::vector<int64_t> d;
  for (const auto& m : send_batch_of(queue, c.batch)) {
    q.emplace_back(m.queue);
    t.emplace_back(m.type);
    e.emplace_back(m.execution_id);
    o.emplace_back(std::nullopt);
    p.emplace_back(m.payload);
    h.emplace_back(m.headers);
    d.push_back(m.delay.count());
    none.emplace_back(std::nullopt);
  }
  using detail::pg_text_array;
  return {{"q", pg_text_array(q)},        {"t", pg_text_array(t)},     {"e", pg_text_array(e)},
          {"o", pg_text_array(o)},        {"p", pg_text_array(p)},     {"h", pg_text_array(h)},
          {"d", detail::pg_int_array(d)}, {"at", pg_text_array(none)}, {"ak", pg_text_array(none)},
          {"pr", pg_text_array(none)}};
}

std::string shell_quote(const std::string& s) {
  std::string out = "'";
  for (char ch : s) out += ch == '\'' ? std::string("'\\''") : std::string(1, ch);
  return out + "'";
}

std::string pgbench_binary() {
  for (const char* p : {"/usr/lib/postgresql/15/bin/pgbench", "/usr/bin/pgbench"})
    if (access(p, X_OK) == 0) return p;
  return "pgbench";
}

/// What one pgbench run reports: tps without connection time, transactions done.
struct pgbench_result {
  double tps = 0;
  long transactions = 0;
};

pgbench_result run_pgbench(const options& o, const std::string& script,
                           const std::vector<std::pair<std::string, std::string>>& vars) {
  char path[] = "/tmp/postbox-bench-XXXXXX.sql";
  int fd = mkstemps(path, 4);
  if (fd < 0) throw std::runtime_error("cannot create the pgbench script file");
  close(fd);
  std::ofstream(path) << script;
  std::string cmd = pgbench_binary() + " -n -M prepared -T " + std::to_string(o.seconds) + " -c " +
                    std::to_string(o.clients) + " -j " + std::to_string(o.clients);
  for (const auto& [name, value] : vars) cmd += " -D " + shell_quote(name + "=" + value);
  cmd += " -f " + std::string(path) + " " + shell_quote(o.dsn) + " 2>&1";
  pgbench_result r;
  if (FILE* p = popen(cmd.c_str(), "r")) {
    char buf[4096];
    while (fgets(buf, sizeof buf, p)) {
      std::string s = buf;
      if (s.rfind("tps = ", 0) == 0) r.tps = std::stod(s.substr(6));
      const std::string done = "number of transactions actually processed: ";
      if (s.rfind(done, 0) == 0) r.transactions = std::stol(s.substr(done.size()));
      if (s.find("error") != std::string::npos) std::cerr << "pgbench: " << s;
    }
    pclose(p);
  }
  unlink(path);
  return r;
}

/// The raw side: pgbench -T on the same backlog; messages moved are counted in the table.
side_result run_raw(const options& o, const bench_case& c, const std::string& queue) {
  auto r = run_pgbench(o, raw_script(c), raw_variables(c, queue));
  const int64_t left = depth(o, queue);
  const int64_t moved = c.op == operation::send_batch ? left - o.backlog : o.backlog - left;
  if (r.transactions == 0) return {0, false};
  return {r.tps * static_cast<double>(moved) / static_cast<double>(r.transactions),
          c.op == operation::read_ack && left == 0};
}

void print_header(const options& o) {
  std::printf("postbox mailbox benchmark: each side %d s, backlog %d rows, %d clients\n", o.seconds,
              o.backlog, o.clients);
  if (o.quick)
    std::printf("raw SQL: skipped (--quick)\n");
  else
    std::printf(
        "raw SQL = pgbench -T %d -c %d -M prepared, same server, same run, same statement "
        "shapes:\n  the claim of mailbox_read.sql without its orphan-sweep CTE; "
        "mailbox_ack, _ack_batch,\n  _send_batch.sql as they are; its own copy of the same "
        "backlog\n",
        o.seconds, o.clients);
  std::printf("  %-20s %14s %14s %7s %8s %8s %8s\n", "case", "postbox msg/s", "raw SQL msg/s",
              "ratio", "seconds", "backlog", "clients");
}

void warn_if_dry(const options& o, const char* side, const side_result& r) {
  if (r.ran_dry)
    std::printf(
        "    warning: %s emptied its backlog of %d rows before %d s were up: its figure "
        "is a lower bound (raise --backlog)\n",
        side, o.backlog, o.seconds);
}

void print_row(const options& o, const bench_case& c, const side_result& ours,
               const std::optional<side_result>& raw) {
  std::printf("  %-20s %14.0f", c.label, ours.msgs_per_s);
  if (raw && raw->msgs_per_s > 0)
    std::printf(" %14.0f %6.2fx", raw->msgs_per_s, ours.msgs_per_s / raw->msgs_per_s);
  else
    std::printf(" %14s %7s", raw ? "failed" : "-", "-");
  std::printf(" %8d %8d %8d\n", o.seconds, o.backlog, o.clients);
  warn_if_dry(o, "postbox", ours);
  if (raw) warn_if_dry(o, "raw SQL", *raw);
}

}  // namespace

int main(int argc, char** argv) {
  auto parsed = parse_options(argc, argv);
  if (!parsed) {
    std::cerr << "usage: postbox-bench --dsn DSN [--seconds S] [--backlog N] [--clients C] "
                 "[--quick]\n";
    return 2;
  }
  const options o = *parsed;
  if (o.dsn.empty()) {
    std::cerr << "postbox-bench: no database: pass --dsn or set POSTBOX_DSN\n";
    return 2;
  }
  try {
    pg_session admin{{o.dsn, "bench-admin"}};
    if (auto r = migrate(admin); !r) {
      std::cerr << "postbox-bench: migrate failed: " << describe(r.error()) << "\n";
      return 1;
    }
    const std::string prefix = "pb_bench_" + std::to_string(getpid()) + "_";
    print_header(o);
    std::vector<std::pair<const bench_case*, double>> plain;
    for (const auto& c : all_cases) {
      const std::string queue = prefix + c.key;
      reset_table(o, prefix);
      fill_backlog(o, queue);
      const auto ours = run_postbox(o, c, queue);
      std::optional<side_result> raw;
      if (!o.quick) {
        reset_table(o, prefix);
        fill_backlog(o, queue);
        raw = run_raw(o, c, queue);
      }
      print_row(o, c, ours, raw);
      std::fflush(stdout);
      if (c.op == operation::read_ack) plain.emplace_back(&c, ours.msgs_per_s);
    }
    // The claim with priorities: the same read+ack on a backlog of the four tiers mixed
    // (each claim walks the tiers' index ranges, urgent first), beside the plain claim
    // above (every message normal). Goal: at least 0.8x.
    std::printf("  claim with priorities (backlog of the four tiers mixed) vs. the plain claim:\n");
    for (const auto& [c, plain_rate] : plain) {
      const std::string queue = prefix + c->key + "_tiers";
      reset_table(o, prefix);
      fill_backlog(o, queue, true);
      const auto mixed = run_postbox(o, *c, queue);
      std::printf("  %-20s %14.0f %14.0f %6.2fx  (mixed tiers msg/s, plain msg/s, ratio)\n",
                  (std::string(c->label) + " tiers").c_str(), mixed.msgs_per_s, plain_rate,
                  mixed.msgs_per_s / plain_rate);
      warn_if_dry(o, "postbox (tiers)", mixed);
      std::fflush(stdout);
    }
    std::printf(
        "\nthe claim with limits (postbox.claim_limited: a GCRA token and a slot per message, "
        "limit not binding)\nbeside the plain claim, postbox's side only:\n");
    double plain_limited = 0;
    for (const auto& c : limited_cases) {
      const std::string queue = prefix + c.key;
      reset_table(o, prefix);
      fill_backlog(o, queue);
      if (c.limited) {
        limit_queue(o, queue, c.limited == 2);
      }
      const auto ours = run_postbox(o, c, queue);
      print_row(o, c, ours, std::nullopt);
      if (!c.limited)
        plain_limited = ours.msgs_per_s;
      else
        std::printf("  %-20s %14.2fx (goal >= 0.8x)\n", "    / plain",
                    ours.msgs_per_s / std::max(1.0, plain_limited));
      std::fflush(stdout);
    }
    reset_table(o, prefix);
  } catch (const std::exception& e) {
    std::cerr << "postbox-bench: " << e.what() << "\n";
    return 1;
  }
  return 0;
}

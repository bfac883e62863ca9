// postbox-bench: mailbox throughput (send_batch, read+ack at batch 1 and 100)
// and, in the same run on the same server, pgbench running the equivalent raw
// SQL, with the ratio. Prints figures; never asserts on them.
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <optional>
#include <pqxx/pqxx>
#include <string>
#include <thread>
#include <vector>

#include "persistence/mailbox_store.hpp"
#include "persistence/migrator.hpp"
#include "persistence/pg_session.hpp"

using namespace postbox;
using namespace std::chrono_literals;
using clock_type = std::chrono::steady_clock;

namespace {

struct options {
  std::string dsn;
  int messages = 20000;
  int clients = 4;
  bool quick = false;  // skip pgbench (used by make demo)
};

double seconds_since(clock_type::time_point t) {
  return std::chrono::duration<double>(clock_type::now() - t).count();
}

void sql(const std::string& dsn, const std::string& text) {
  pqxx::connection c{dsn};
  pqxx::nontransaction n{c};
  n.exec(text);
}

void fill(const std::string& dsn, const std::string& queue, int n) {
  sql(dsn, "INSERT INTO postbox.mailbox (queue, type, execution_id, payload) SELECT '" + queue +
               "', 'bench', 'e-' || i, jsonb_build_object('n', i) FROM generate_series(1, " +
               std::to_string(n) + ") i");
}

double bench_send_batch(const options& o, const std::string& queue) {
  std::atomic<int> next{0};
  auto start = clock_type::now();
  std::vector<std::thread> threads;
  for (int c = 0; c < o.clients; ++c)
    threads.emplace_back([&] {
      pg_session s{{o.dsn, "bench-send"}};
      mailbox_store mb{s};
      std::vector<outgoing_message> batch(100);
      for (int i = 0; i < 100; ++i) {
        batch[i].queue = queue;
        batch[i].type = "bench";
        batch[i].execution_id = "e-" + std::to_string(i);
        batch[i].payload = R"({"n":)" + std::to_string(i) + "}";
      }
      while (next.fetch_add(100) < o.messages)
        if (!mb.send_batch(batch)) std::cerr << "send_batch failed\n";
    });
  for (auto& t : threads) t.join();
  return o.messages / seconds_since(start);
}

double bench_read_ack(const options& o, const std::string& queue, int batch) {
  fill(o.dsn, queue, o.messages);
  std::atomic<int> done{0};
  auto start = clock_type::now();
  std::vector<std::thread> threads;
  for (int c = 0; c < o.clients; ++c)
    threads.emplace_back([&] {
      pg_session s{{o.dsn, "bench-read"}};
      mailbox_store mb{s};
      for (;;) {
        auto got = mb.read(queue, batch, 30s, "bench");
        if (!got || got->empty()) break;
        if (batch == 1) {
          if (!mb.ack(got->front().to_lease())) ++done;
        } else {
          std::vector<lease> leases;
          for (const auto& d : *got) leases.push_back(d.to_lease());
          auto r = mb.ack_batch(leases);
          if (r) done += static_cast<int>(r->acked.size());
        }
      }
    });
  for (auto& t : threads) t.join();
  double secs = seconds_since(start);
  if (done != o.messages) std::cerr << "warning: acked " << done << " of " << o.messages << "\n";
  return done / secs;
}

std::string pgbench_binary() {
  for (const char* p : {"/usr/lib/postgresql/15/bin/pgbench", "/usr/bin/pgbench"})
    if (access(p, X_OK) == 0) return p;
  return "pgbench";
}

/// Runs one pgbench script with `transactions` in total; returns its tps (0 on failure).
double pgbench_tps(const options& o, const std::string& script, int transactions) {
  char path[] = "/tmp/postbox-bench-XXXXXX.sql";
  int fd = mkstemps(path, 4);
  if (fd < 0) return 0;
  close(fd);
  std::ofstream(path) << script;
  int per_client = std::max(1, transactions / o.clients);
  std::string cmd = pgbench_binary() + " -n -c " + std::to_string(o.clients) + " -j " +
                    std::to_string(std::min(o.clients, 2)) + " -t " + std::to_string(per_client) +
                    " -f " + path + " \"" + o.dsn + "\" 2>&1";
  double tps = 0;
  if (FILE* p = popen(cmd.c_str(), "r")) {
    char line[512];
    while (fgets(line, sizeof line, p)) {
      std::string s = line;
      if (s.rfind("tps = ", 0) == 0) tps = std::stod(s.substr(6));
      if (s.find("error") != std::string::npos || s.find("ERROR") != std::string::npos)
        std::cerr << "pgbench: " << s;
    }
    pclose(p);
  }
  unlink(path);
  return tps;
}

const char* claim_columns =
    "RETURNING m.id, m.receipt, m.queue, m.type, m.execution_id, m.org, m.payload::text, "
    "m.headers::text, m.read_ct, m.last_error, extract(epoch FROM m.enqueued_at)::float8";

std::string raw_claim(const std::string& queue, int batch) {
  return "WITH c AS (SELECT id FROM postbox.mailbox WHERE queue = '" + queue +
         "' AND visible_at <= now() ORDER BY visible_at, id LIMIT " + std::to_string(batch) +
         " FOR UPDATE SKIP LOCKED) UPDATE postbox.mailbox m SET visible_at = now() + interval "
         "'30 seconds', read_ct = m.read_ct + 1, receipt = nextval('postbox.receipt_seq'), "
         "lease_owner = 'raw' FROM c WHERE m.id = c.id ";
}

void print_row(const char* name, double ours, std::optional<double> raw) {
  std::printf("  %-22s %12.0f msg/s", name, ours);
  if (raw && *raw > 0) std::printf("   raw SQL %12.0f msg/s   ratio %.2fx", *raw, ours / *raw);
  std::printf("\n");
}

}  // namespace

int main(int argc, char** argv) {
  options o;
  if (const char* env = std::getenv("POSTBOX_DSN")) o.dsn = env;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--dsn" && i + 1 < argc)
      o.dsn = argv[++i];
    else if (a == "--messages" && i + 1 < argc)
      o.messages = std::max(100, std::atoi(argv[++i]));
    else if (a == "--clients" && i + 1 < argc)
      o.clients = std::max(1, std::atoi(argv[++i]));
    else if (a == "--quick")
      o.quick = true;
    else {
      std::cerr << "usage: postbox-bench --dsn DSN [--messages N] [--clients C] [--quick]\n";
      return 2;
    }
  }
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
    auto tag = std::to_string(getpid());
    std::printf("postbox mailbox benchmark: %d messages, %d clients\n", o.messages, o.clients);
    double send = bench_send_batch(o, "b_send_" + tag);
    double one = bench_read_ack(o, "b_one_" + tag, 1);
    double hundred = bench_read_ack(o, "b_hundred_" + tag, 100);
    std::optional<double> raw_send, raw_one, raw_hundred;
    if (!o.quick) {
      raw_send =
          100 * pgbench_tps(o,
                            "INSERT INTO postbox.mailbox (queue, type, execution_id, payload) "
                            "SELECT 'r_send_" +
                                tag +
                                "', 'bench', 'e-' || i, "
                                "jsonb_build_object('n', i) FROM generate_series(1, 100) i;\n",
                            o.messages / 100);
      fill(o.dsn, "r_one_" + tag, o.messages);
      raw_one =
          pgbench_tps(o,
                      raw_claim("r_one_" + tag, 1) + claim_columns + " \\gset\n" +
                          "DELETE FROM postbox.mailbox WHERE id = :id AND receipt = :receipt;\n",
                      o.messages);
      fill(o.dsn, "r_hundred_" + tag, o.messages);
      raw_hundred =
          100 *
          pgbench_tps(o,
                      "WITH u AS (" + raw_claim("r_hundred_" + tag, 100) + claim_columns +
                          ") SELECT array_agg(id) AS ids, array_agg(receipt) AS rs, "
                          "count(*) AS n, max(length(payload)) AS p FROM u \\gset\n"
                          "DELETE FROM postbox.mailbox m USING unnest(':ids'::bigint[], "
                          "':rs'::bigint[]) a(id, r) WHERE m.id = a.id AND m.receipt = a.r;\n",
                      o.messages / 100);
    }
    print_row("send_batch (100)", send, raw_send);
    print_row("read+ack batch 1", one, raw_one);
    print_row("read+ack batch 100", hundred, raw_hundred);
    sql(o.dsn, "DELETE FROM postbox.mailbox WHERE queue LIKE '%_" + tag + "'");
  } catch (const std::exception& e) {
    std::cerr << "postbox-bench: " << e.what() << "\n";
    return 1;
  }
  return 0;
}

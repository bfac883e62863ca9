// Behind PgBouncer in transaction mode, which reaps idle clients: an ack after
// the reaping lands by its one retry, and a node configured with
// `database.pooler: transaction` runs an execution to COMPLETED (no named
// prepared statements, no session settings, consumers poll instead of LISTEN).
#define CAF_SUITE pgbouncer
#include <fcntl.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <caf/test/unit_test.hpp>
#include <csignal>
#include <filesystem>
#include <fstream>
#include <pqxx/pqxx>
#include <sstream>
#include <thread>

#include "actors/transports/http_server.hpp"
#include "client/client.hpp"
#include "persistence/conninfo.hpp"
#include "persistence/mailbox_store.hpp"
#include "support/node_process.hpp"
#include "support/pg_fixture.hpp"

extern char** environ;

using namespace postbox;
using namespace std::chrono_literals;

namespace {

/// A PgBouncer in front of the test server, reaping clients idle for 1 s.
struct bouncer {
  std::string dir = test::make_server_dir("pgbouncer");  // it runs as postgres when we are root
  uint16_t port = test::free_port();
  pid_t pid = -1;

  bool start() {
    auto server = conninfo::parse(test::server_dsn());
    if (!server || !server->has("port")) return false;
    test::write_file(dir + "/users.txt", "\"postgres\" \"\"\n");
    test::write_file(dir + "/pgbouncer.ini",
                     "[databases]\n* = host=127.0.0.1 port=" + *server->get("port") +
                         "\n[pgbouncer]\nlisten_addr = "
                         "127.0.0.1\nlisten_port = " +
                         std::to_string(port) +
                         "\nunix_socket_dir =\nauth_type = trust\n"
                         "auth_file = " +
                         dir +
                         "/users.txt\npool_mode = transaction\n"
                         "client_idle_timeout = 1\nserver_login_retry = 1\n"
                         "query_wait_timeout = 5\nlogfile = " +
                         dir + "/pgbouncer.log\n");
    ::chmod((dir + "/users.txt").c_str(), 0644);
    ::chmod((dir + "/pgbouncer.ini").c_str(), 0644);
    std::vector<std::string> args = {"/usr/sbin/pgbouncer"};
    if (::geteuid() == 0) args.insert(args.end(), {"-u", "postgres"});
    args.push_back(dir + "/pgbouncer.ini");
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 1, (dir + "/stdout").c_str(), O_WRONLY | O_CREAT, 0644);
    posix_spawn_file_actions_adddup2(&fa, 1, 2);
    int rc = posix_spawn(&pid, argv[0], &fa, nullptr, argv.data(), environ);
    posix_spawn_file_actions_destroy(&fa);
    if (rc != 0) return false;
    return test::wait_until(
        [&] {
          try {
            pqxx::connection c{dsn("postgres")};
            return true;
          } catch (const std::exception&) {
            return false;
          }
        },
        10s, 100ms);
  }

  std::string dsn(const std::string& dbname) const {
    return "host=127.0.0.1 port=" + std::to_string(port) + " user=postgres dbname=" + dbname;
  }

  std::string log() const {
    std::ifstream in(dir + "/pgbouncer.log");
    std::stringstream s;
    s << in.rdbuf();
    return s.str();
  }

  ~bouncer() {
    if (pid > 0) {
      ::kill(pid, SIGINT);
      int status = 0;
      ::waitpid(pid, &status, 0);
    }
    std::error_code ec;
    std::filesystem::remove_all(dir, ec);
  }
};

/// The database of a test DSN (either form).
std::string dbname_of(const std::string& dsn) {
  auto ci = conninfo::parse(dsn);
  return ci ? ci->get("dbname").value_or("") : "";
}

}  // namespace

CAF_TEST(an ack after pgbouncer reaped the idle client lands by its retry) {
  if (::access("/usr/sbin/pgbouncer", X_OK) != 0) CAF_FAIL("pgbouncer missing: run make deps");
  auto direct = test::create_migrated_database("bouncer");
  bouncer b;
  CAF_REQUIRE(b.start());
  session_options o{b.dsn(dbname_of(direct)), "through-bouncer"};
  o.prepared_statements = false;
  o.idle_in_transaction_timeout = 0ms;
  o.server_keepalives = false;  // a session SET would land on other clients' connections
  pg_session s{o};
  mailbox_store mb{s};
  CAF_REQUIRE(mb.send({"q", "t", "e-1", "", "{}", "{}", 0ms}));
  auto got = mb.read("q", 1, 60s, "w");
  CAF_REQUIRE(got);
  CAF_REQUIRE_EQUAL(got->size(), 1u);
  // Idle longer than client_idle_timeout: PgBouncer closes this client.
  CAF_REQUIRE(test::wait_until(
      [&] { return b.log().find("client_idle_timeout") != std::string::npos; }, 10s, 200ms));
  CAF_CHECK(!mb.ack(got->front().to_lease()));
  CAF_CHECK_EQUAL(test::count(direct, "SELECT count(*) FROM postbox.mailbox"), 0);
}

CAF_TEST(a node behind a transaction pooler completes an execution) {
  if (::access("/usr/sbin/pgbouncer", X_OK) != 0) CAF_FAIL("pgbouncer missing: run make deps");
  auto direct = test::create_migrated_database("bouncer_node");
  bouncer b;
  CAF_REQUIRE(b.start());
  auto dir = test::make_temp_dir("bouncer_node");
  auto topology = test::write_file(dir + "/topology.yaml", R"(database:
  dsn: "${POSTBOX_DSN}"
  pooler: transaction
queues:
  orchestrator: { poll_interval: 200ms }
  file_batch:   { poll_interval: 200ms }
  callback:     { poll_interval: 200ms }
workflows:
  docs: { processor: checksum, batch_size: 2 }
nodes:
  a: { actors: [ { role: orchestrator }, { role: file_batch, concurrency: 2 }, { role: callback }, { role: reaper }, { role: outbox } ] }
)");
  auto through = b.dsn(dbname_of(direct));
  test::node_process a(topology, "a", through);
  CAF_REQUIRE(a.start());
  for (int i = 0; i < 6; ++i) test::write_file(dir + "/in/f" + std::to_string(i), "x");
  auto sub = test::run_cli(
      {"--topology", topology, "submit", "--workflow", "docs", "--wait", "--json", dir + "/in"},
      {"POSTBOX_DSN=" + through});
  CAF_CHECK_EQUAL(sub.exit_code, 0);
  CAF_CHECK(sub.out.find("\"status\":\"COMPLETED\"") != std::string::npos);
  CAF_CHECK_EQUAL(test::count(direct, "SELECT count(*) FROM postbox.file_results"), 6);
  a.signal(SIGTERM);
  CAF_CHECK_EQUAL(a.wait_exit(15s), 0);
  if (sub.exit_code != 0) CAF_MESSAGE("node log: " << a.log() << "\ncli: " << sub.err);
}

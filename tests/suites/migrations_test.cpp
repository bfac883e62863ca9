// Migrations: recorded, idempotent, and safe when two processes start at once; one
// version printed by every binary (`--version`), and a database migrated by a newer
// postbox refused by the node and by `postbox migrate` with one line naming both.
#define CAF_SUITE migrations
#include <spawn.h>
#include <sys/wait.h>

#include <caf/test/unit_test.hpp>
#include <chrono>
#include <string>

#include "persistence/migrator.hpp"
#include "persistence/sql_registry.hpp"
#include "postbox/version.hpp"
#include "support/files.hpp"
#include "support/node_process.hpp"
#include "support/pg_fixture.hpp"
#include "support/shell.hpp"

extern char** environ;

using namespace postbox;

namespace {

int run_process(const std::vector<std::string>& argv, pid_t& pid) {
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  return posix_spawn(&pid, args[0], nullptr, nullptr, args.data(), environ);
}

int wait_exit(pid_t pid) {
  int status = 0;
  waitpid(pid, &status, 0);
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

}  // namespace

CAF_TEST(running migrations twice is a no - op) {
  auto dsn = test::create_database("migrate_twice");
  pg_session s{{dsn, "migrate-test"}};
  auto first = migrate(s);
  CAF_REQUIRE(first);
  CAF_CHECK_EQUAL(first->applied.size(), sql::migrations().size());
  CAF_CHECK_GREATER_OR_EQUAL(first->current_version, 1);
  auto tables = test::count(dsn, "SELECT count(*) FROM pg_tables WHERE schemaname = 'postbox'");
  auto second = migrate(s);
  CAF_REQUIRE(second);
  CAF_CHECK_EQUAL(second->applied.size(), 0u);
  CAF_CHECK_EQUAL(second->current_version, first->current_version);
  CAF_CHECK_EQUAL(test::count(dsn, "SELECT count(*) FROM pg_tables WHERE schemaname = 'postbox'"),
                  tables);
  CAF_CHECK_EQUAL(test::count(dsn, "SELECT count(*) FROM postbox.schema_migrations"),
                  static_cast<long long>(sql::migrations().size()));
}

CAF_TEST(two processes migrating at once both succeed) {
  for (int round = 0; round < 3; ++round) {
    auto dsn = test::create_database("migrate_race");
    auto bin = test::bin_path("postbox");
    pid_t a = 0, b = 0;
    CAF_REQUIRE_EQUAL(run_process({bin, "--dsn", dsn, "migrate"}, a), 0);
    CAF_REQUIRE_EQUAL(run_process({bin, "--dsn", dsn, "migrate"}, b), 0);
    CAF_CHECK_EQUAL(wait_exit(a), 0);
    CAF_CHECK_EQUAL(wait_exit(b), 0);
    CAF_CHECK_EQUAL(test::count(dsn, "SELECT count(*) FROM postbox.schema_migrations"),
                    static_cast<long long>(sql::migrations().size()));
    CAF_CHECK_EQUAL(test::count(dsn,
                                "SELECT count(*) FROM pg_tables WHERE schemaname = "
                                "'postbox' AND tablename = 'mailbox'"),
                    1);
  }
}

CAF_TEST(a bad dsn is one readable error line) {
  pid_t pid = 0;
  CAF_REQUIRE_EQUAL(run_process({test::bin_path("postbox"), "--dsn",
                                 "host=127.0.0.1 port=1 connect_timeout=2", "migrate"},
                                pid),
                    0);
  CAF_CHECK_EQUAL(wait_exit(pid), 1);
}

CAF_TEST(the schema version is the highest embedded migration) {
  CAF_CHECK_EQUAL(embedded_schema_version(), POSTBOX_SCHEMA_VERSION);
  CAF_CHECK_EQUAL(embedded_schema_version(), schema_version);
  CAF_CHECK_GREATER_OR_EQUAL(schema_version, 18);
  CAF_CHECK_EQUAL(std::string(library_version), std::to_string(POSTBOX_VERSION_MAJOR) + "." +
                                                    std::to_string(POSTBOX_VERSION_MINOR) + "." +
                                                    std::to_string(POSTBOX_VERSION_PATCH));
}

CAF_TEST(every binary prints its version and the schema it needs) {
  const std::string tail =
      std::string(" ") + POSTBOX_VERSION + " (schema " + std::to_string(schema_version) + ")\n";
  auto cli = test::run_cli({"--version"});
  CAF_CHECK_EQUAL(cli.exit_code, 0);
  CAF_CHECK_EQUAL(cli.out, "postbox" + tail);
  CAF_CHECK_EQUAL(cli.err, "");
  for (const std::string bin : {"postbox-node", "postbox-webhook-sink"}) {
    auto r = test::run_shell(test::shell_quote(test::bin_path(bin)) + " --version");
    CAF_MESSAGE(bin << " --version: exit " << r.exit_code << ": " << r.output);
    CAF_CHECK_EQUAL(r.exit_code, 0);
    CAF_CHECK_EQUAL(r.output, bin + tail);
  }
}

CAF_TEST(a database migrated by a newer postbox is refused with one line) {
  auto dsn = test::create_migrated_database("migrate_newer");
  const int newer = schema_version + 981;
  test::exec(dsn, "INSERT INTO postbox.schema_migrations (version, name) VALUES (" +
                      std::to_string(newer) + ", '" + std::to_string(newer) + "_future.sql')");
  const std::string versions = std::string(" (") + POSTBOX_VERSION + ", schema " +
                               std::to_string(schema_version) + "): upgrade the binaries\n";
  const std::string line = "database schema " + std::to_string(newer) + " is newer than this ";

  auto dir = test::make_temp_dir("migrate_newer");
  auto topo = test::write_file(dir + "/topology.yaml", R"(cluster: newer
database: { dsn: "${POSTBOX_DSN}" }
queues:
  orchestrator: { visibility_timeout: 5s, poll_interval: 200ms }
  file_batch:   { visibility_timeout: 5s, poll_interval: 200ms }
  callback:     { visibility_timeout: 5s, poll_interval: 200ms }
workflows:
  docs: { processor: checksum, batch_size: 2 }
nodes:
  a:
    actors:
      - { role: orchestrator }
      - { role: file_batch }
      - { role: callback }
)");
  test::node_process node{topo, "a", dsn};
  CAF_REQUIRE(node.start());
  CAF_CHECK_EQUAL(node.wait_exit(std::chrono::seconds(30)), 1);
  CAF_MESSAGE("node log: " << node.log());
  CAF_CHECK_EQUAL(node.log(), "postbox-node: " + line + "postbox-node" + versions);
  // Refused before anything ran: no node registered, no migration recorded or undone.
  CAF_CHECK_EQUAL(test::count(dsn, "SELECT count(*) FROM postbox.nodes"), 0);
  CAF_CHECK_EQUAL(test::count(dsn, "SELECT count(*) FROM postbox.schema_migrations"),
                  static_cast<long long>(sql::migrations().size()) + 1);

  auto cli = test::run_cli({"--dsn", dsn, "migrate"});
  CAF_CHECK_EQUAL(cli.exit_code, 1);
  CAF_CHECK_EQUAL(cli.err, "postbox: " + line + "postbox" + versions);
  CAF_CHECK_EQUAL(cli.out, "");

  // The same database without the newer row starts again (nothing was left half done).
  test::exec(dsn, "DELETE FROM postbox.schema_migrations WHERE version = " + std::to_string(newer));
  auto again = test::run_cli({"--dsn", dsn, "migrate"});
  CAF_CHECK_EQUAL(again.exit_code, 0);
  CAF_CHECK_EQUAL(again.out,
                  "schema is up to date (version " + std::to_string(schema_version) + ")\n");
}

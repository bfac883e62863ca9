// Migrations: recorded, idempotent, and safe when two processes start at once.
#define CAF_SUITE migrations
#include <spawn.h>
#include <sys/wait.h>

#include <caf/test/unit_test.hpp>

#include "persistence/migrator.hpp"
#include "persistence/sql_registry.hpp"
#include "support/pg_fixture.hpp"

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

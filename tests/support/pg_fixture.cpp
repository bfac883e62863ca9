// Test databases and SQL helpers (tests may use pqxx directly; actors may not).
#include "support/pg_fixture.hpp"

#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <fstream>
#include <pqxx/pqxx>
#include <stdexcept>

#include "persistence/migrator.hpp"
#include "persistence/pg_session.hpp"

namespace postbox::test {

std::string server_dsn() {
  if (const char* dsn = std::getenv("POSTBOX_TEST_DSN"); dsn && *dsn) return dsn;
  const char* state = std::getenv("POSTBOX_PGTEST_STATE");
  if (!state) throw std::runtime_error("set POSTBOX_TEST_DSN or run through ctest (pg fixture)");
  std::ifstream in(state);
  std::string line;
  while (std::getline(in, line)) {
    const std::string key = "PGTEST_DSN=";
    if (line.rfind(key, 0) == 0) {
      auto v = line.substr(key.size());
      if (v.size() >= 2 && v.front() == '"') v = v.substr(1, v.size() - 2);
      return v;
    }
  }
  throw std::runtime_error(std::string("no PGTEST_DSN in ") + state);
}

std::string create_database(const std::string& label) {
  static std::atomic<int> counter{0};
  std::string name =
      "pbt_" + label + "_" + std::to_string(getpid()) + "_" + std::to_string(counter++);
  auto admin = server_dsn();
  pqxx::connection c{admin};
  pqxx::nontransaction n{c};
  n.exec("DROP DATABASE IF EXISTS " + n.quote_name(name));
  n.exec("CREATE DATABASE " + n.quote_name(name));
  return admin + " dbname=" + name;
}

std::string create_migrated_database(const std::string& label) {
  auto dsn = create_database(label);
  pg_session s{{dsn, "test-migrate"}};
  auto r = migrate(s);
  if (!r) throw std::runtime_error("migrate: " + describe(r.error()));
  return dsn;
}

std::string scalar(const std::string& dsn, const std::string& sql) {
  pqxx::connection c{dsn};
  pqxx::nontransaction n{c};
  auto r = n.exec(sql);
  if (r.empty() || r[0][0].is_null()) return "";
  return r[0][0].c_str();
}

long long count(const std::string& dsn, const std::string& sql) {
  auto v = scalar(dsn, sql);
  return v.empty() ? -1 : std::stoll(v);
}

void exec(const std::string& dsn, const std::string& sql) {
  pqxx::connection c{dsn};
  pqxx::nontransaction n{c};
  n.exec(sql);
}

int terminate_backends(const std::string& dsn, const std::string& application_name) {
  pqxx::connection c{dsn};
  pqxx::nontransaction n{c};
  auto r = n.exec_params(
      "SELECT count(*) FILTER (WHERE pg_terminate_backend(pid)) FROM pg_stat_activity "
      "WHERE application_name = $1 AND pid <> pg_backend_pid() AND datname = current_database()",
      application_name);
  return r[0][0].as<int>();
}

std::string bin_path(const std::string& name) {
  const char* dir = std::getenv("POSTBOX_BIN_DIR");
  return std::string(dir ? dir : ".") + "/" + name;
}

}  // namespace postbox::test

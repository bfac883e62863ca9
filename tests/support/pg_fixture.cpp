// Test databases and SQL helpers (tests may use pqxx directly; actors may not).
#include "support/pg_fixture.hpp"

#include <pwd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <fstream>
#include <pqxx/pqxx>
#include <stdexcept>

#include "persistence/conninfo.hpp"
#include "persistence/migrator.hpp"
#include "persistence/pg_session.hpp"

namespace postbox::test {

namespace {

std::string state_file_dsn() {
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

conninfo parsed(const std::string& dsn) {
  auto ci = conninfo::parse(dsn);
  if (!ci) throw std::runtime_error(describe(ci.error()));
  return *ci;
}

bool is_uri(const std::string& dsn) {
  return dsn.rfind("postgresql://", 0) == 0 || dsn.rfind("postgres://", 0) == 0;
}

}  // namespace

std::string server_dsn() {
  auto dsn = state_file_dsn();
  const char* form = std::getenv("POSTBOX_TEST_DSN_FORM");
  if (form && std::string(form) == "uri") return as_uri(dsn);
  if (form && std::string(form) == "keyvalue") return as_key_value(dsn);
  return dsn;
}

std::string as_uri(const std::string& dsn) {
  return parsed(dsn).uri();
}

std::string as_key_value(const std::string& dsn) {
  return parsed(dsn).str();
}

std::string with_database(const std::string& dsn, const std::string& dbname) {
  auto ci = parsed(dsn);
  ci.set("dbname", dbname);
  return is_uri(dsn) ? ci.uri() : ci.str();
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
  return with_database(admin, name);  // in the form of the server's DSN
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

std::string make_server_dir(const std::string& label) {
  std::string tmpl = "/tmp/postbox-" + label + ".XXXXXX";
  if (!::mkdtemp(tmpl.data())) throw std::runtime_error("mkdtemp " + tmpl + " failed");
  ::chmod(tmpl.c_str(), 0755);
  if (::geteuid() == 0) {
    passwd* pw = ::getpwnam("postgres");
    if (!pw || ::chown(tmpl.c_str(), pw->pw_uid, pw->pw_gid) != 0)
      throw std::runtime_error("chown postgres " + tmpl + " failed");
  }
  return tmpl;
}

std::string bin_path(const std::string& name) {
  const char* dir = std::getenv("POSTBOX_BIN_DIR");
  return std::string(dir ? dir : ".") + "/" + name;
}

}  // namespace postbox::test

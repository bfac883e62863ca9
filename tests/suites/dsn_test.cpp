// Connection parameters come from libpq's parser for both DSN forms (key=value and
// postgresql:// URIs): password_file works with either, no password ever shows up in
// an error, an invalid DSN says what is wrong, and every connection has TCP keepalives
// and tcp_user_timeout by default, on the server side too, unless the DSN says otherwise.
#define CAF_SUITE dsn
#include <unistd.h>

#include <caf/test/unit_test.hpp>
#include <fstream>
#include <pqxx/pqxx>
#include <sstream>

#include "config/topology.hpp"
#include "persistence/conninfo.hpp"
#include "persistence/detail/tx_context.hpp"
#include "persistence/notification_listener.hpp"
#include "persistence/pg_session.hpp"
#include "support/node_process.hpp"
#include "support/pg_fixture.hpp"

using namespace postbox;
using postbox::test::read_text;
using namespace std::chrono_literals;

namespace {

bool contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

std::string show(pg_session& s, const std::string& setting) {
  std::string out;
  auto err = s.transact(retry_policy::never, [&](tx_context& tx) -> caf::error {
    out = tx.work().exec("SHOW " + setting)[0][0].c_str();
    return {};
  });
  if (err) return "error: " + describe(err);
  return out;
}

/// A login role with a password that the test server checks (scram), through a
/// pg_hba.conf line for that role only, put first and removed again at the end.
/// The harness's server trusts everyone else, so other suites are not affected.
struct password_role {
  std::string admin = test::server_dsn();
  std::string name = "pbt_pw_" + std::to_string(::getpid());
  std::string password = "Sw0rd-fish 'quoted' \\ p@ss:/?&=%";
  std::string hba_file;
  std::string line;

  password_role() {
    test::exec(admin, "DROP ROLE IF EXISTS " + name);
    pqxx::connection c{admin};
    pqxx::nontransaction n{c};
    n.exec("CREATE ROLE " + name + " LOGIN PASSWORD " + n.quote(password));
    hba_file = test::scalar(admin, "SHOW hba_file");
    line = "host all " + name + " 127.0.0.1/32 scram-sha-256\n";
    auto old = read_text(hba_file);
    std::ofstream(hba_file, std::ios::trunc) << line << old;
    test::exec(admin, "SELECT pg_reload_conf()");
  }

  ~password_role() {
    auto text = read_text(hba_file);
    if (auto pos = text.find(line); pos != std::string::npos) text.erase(pos, line.size());
    std::ofstream(hba_file, std::ios::trunc) << text;
    try {
      test::exec(admin, "SELECT pg_reload_conf()");
      test::exec(admin, "DROP ROLE IF EXISTS " + name);
    } catch (const std::exception&) {
    }
  }

  /// The server asks this role for its password (the reload is asynchronous).
  bool enforced(const std::string& dsn) const {
    return test::wait_until(
        [&] {
          try {
            pqxx::connection c{dsn};
            return false;
          } catch (const std::exception& e) {
            return contains(e.what(), "password");
          }
        },
        10s, 50ms);
  }
};

}  // namespace

CAF_TEST(conninfo parses both forms and renders either) {
  auto kv = conninfo::parse("host=db.internal port=5433 user=me dbname=jobs password='a b\\'c'");
  CAF_REQUIRE(kv);
  CAF_CHECK_EQUAL(kv->get("dbname").value_or(""), "jobs");
  CAF_CHECK_EQUAL(kv->get("password").value_or(""), "a b'c");
  auto uri = conninfo::parse(kv->uri());
  CAF_REQUIRE(uri);
  CAF_CHECK(uri->params() == kv->params());
  auto back = conninfo::parse(kv->str());
  CAF_REQUIRE(back);
  CAF_CHECK(back->params() == kv->params());
  auto from_uri = conninfo::parse("postgresql://me:p%40ss@db.internal:5433/jobs?sslmode=disable");
  CAF_REQUIRE(from_uri);
  CAF_CHECK_EQUAL(from_uri->get("password").value_or(""), "p@ss");
  CAF_CHECK_EQUAL(from_uri->get("dbname").value_or(""), "jobs");
  CAF_CHECK(!contains(from_uri->redacted(), "p@ss"));
  // Appending used to be the way: the URI's database became "jobs application_name=...".
  auto named = connection_string("postgresql://me@db.internal:5433/jobs", "postbox-listener");
  CAF_REQUIRE(named);
  auto parsed = conninfo::parse(*named);
  CAF_REQUIRE(parsed);
  CAF_CHECK_EQUAL(parsed->get("dbname").value_or(""), "jobs");
  CAF_CHECK_EQUAL(parsed->get("application_name").value_or(""), "postbox-listener");
  CAF_CHECK_EQUAL(parsed->get("keepalives").value_or(""), "1");
  CAF_CHECK_EQUAL(parsed->get("tcp_user_timeout").value_or(""), "30000");
  CAF_CHECK_EQUAL(parsed->get("connect_timeout").value_or(""), "10");
  auto own = conninfo::parse(*connection_string("host=db connect_timeout=3", "x"));
  CAF_REQUIRE(own);
  CAF_CHECK_EQUAL(own->get("connect_timeout").value_or(""), "3");  // the DSN wins
}

CAF_TEST(an invalid dsn names the problem and never the password) {
  for (std::string dsn : {"host=127.0.0.1 password=hunter2secret dbname",
                          "host=127.0.0.1 password=hunter2secret bogus_option=1",
                          "postgresql://me:hunter2secret@127.0.0.1:5432/db?nokeyvalue",
                          "postgresql://me:hunter2secret%zz@127.0.0.1/db"}) {
    auto ci = conninfo::parse(dsn);
    CAF_REQUIRE(!ci);
    auto text = describe(ci.error());
    CAF_MESSAGE(text);
    CAF_CHECK(contains(text, "invalid DSN"));
    CAF_CHECK(!contains(text, "hunter2secret"));
    pg_session s{{dsn, "dsn-test"}};
    auto err = s.connect();
    CAF_REQUIRE(err);
    CAF_CHECK(is(err, errc::config_error));
    CAF_CHECK(!contains(describe(err), "hunter2secret"));
    database_config db;
    db.dsn = dsn;
    auto eff = effective_dsn(db);
    CAF_REQUIRE(!eff);
    CAF_CHECK(!contains(describe(eff.error()), "hunter2secret"));
  }
  auto bad_option = conninfo::parse("host=127.0.0.1 bogus_option=1");
  CAF_REQUIRE(!bad_option);
  CAF_CHECK(contains(describe(bad_option.error()), "bogus_option"));
}

CAF_TEST(keepalives and tcp_user_timeout are on by default and the dsn wins) {
  auto kv = test::as_key_value(test::create_database("keepalive"));
  for (const auto& dsn : {kv, test::as_uri(kv)}) {
    CAF_MESSAGE(dsn);
    pg_session s{{dsn, "dsn-test"}};
    CAF_CHECK_EQUAL(show(s, "tcp_user_timeout"), "30000");
    CAF_CHECK_EQUAL(show(s, "tcp_keepalives_idle"), "10");
    CAF_CHECK_EQUAL(show(s, "tcp_keepalives_interval"), "5");
    CAF_CHECK_EQUAL(show(s, "tcp_keepalives_count"), "3");
  }
  auto custom = *with_parameter(kv, "keepalives_idle", "42");
  custom = *with_parameter(custom, "tcp_user_timeout", "12000");
  for (const auto& dsn : {custom, test::as_uri(custom)}) {
    CAF_MESSAGE(dsn);
    pg_session s{{dsn, "dsn-test"}};
    CAF_CHECK_EQUAL(show(s, "tcp_user_timeout"), "12000");
    CAF_CHECK_EQUAL(show(s, "tcp_keepalives_idle"), "42");
    CAF_CHECK_EQUAL(show(s, "tcp_keepalives_interval"), "5");
  }
}

CAF_TEST(password_file works with both dsn forms and a wrong password is never shown) {
  auto db_dsn = test::as_key_value(test::create_migrated_database("password"));
  auto dbname = conninfo::parse(db_dsn)->get("dbname").value_or("");
  password_role role;
  test::exec(db_dsn, "GRANT USAGE ON SCHEMA postbox TO " + role.name +
                         "; GRANT SELECT ON ALL TABLES IN SCHEMA postbox TO " + role.name);
  auto role_kv = *with_parameter(db_dsn, "user", role.name);
  CAF_REQUIRE(role.enforced(role_kv));
  auto dir = test::make_temp_dir("password");
  auto good = test::write_file(dir + "/good", role.password + "\n");
  const std::string wrong_password = "Wr0ng-" + std::to_string(::getpid()) + "-secret";
  auto wrong = test::write_file(dir + "/wrong", wrong_password + "\n");

  const std::string roles =
      "nodes:\n  a: { actors: [ { role: orchestrator }, { role: file_batch }, { role: callback } "
      "] }\n";
  for (const auto& dsn : {role_kv, test::as_uri(role_kv)}) {
    CAF_MESSAGE(dsn);
    database_config db;
    db.dsn = dsn;
    db.password_file = good;
    auto eff = effective_dsn(db);
    CAF_REQUIRE(eff);
    pg_session s{{*eff, "dsn-test"}};
    CAF_CHECK_EQUAL(show(s, "application_name"), "dsn-test");
    std::string who;
    auto err = s.transact(retry_policy::never, [&](tx_context& tx) -> caf::error {
      who = tx.work().exec("SELECT current_user || '@' || current_database()")[0][0].c_str();
      return {};
    });
    CAF_CHECK(!err);
    CAF_CHECK_EQUAL(who, role.name + "@" + dbname);
    notification_listener listener{*eff};
    auto got = listener.wait(10ms);
    CAF_CHECK(got);

    db.password_file = wrong;
    auto bad = effective_dsn(db);
    CAF_REQUIRE(bad);
    pg_session w{{*bad, "dsn-test"}};
    auto failed = w.connect();
    CAF_REQUIRE(failed);
    CAF_MESSAGE(describe(failed));
    CAF_CHECK(contains(describe(failed), "password authentication failed"));
    CAF_CHECK(!contains(describe(failed), wrong_password));
    notification_listener bad_listener{*bad};
    auto lost = bad_listener.wait(10ms);
    CAF_REQUIRE(!lost);
    CAF_CHECK(!contains(describe(lost.error()), wrong_password));

    // The CLI, with the DSN and password_file from the topology.
    auto topo = test::write_file(
        dir + "/topology.yaml",
        "database: { dsn: \"${PBT_DSN}\", password_file: '" + wrong + "' }\n" + roles);
    auto r = test::run_cli({"--topology", topo, "queues"}, {"POSTBOX_DSN=", "PBT_DSN=" + dsn});
    CAF_CHECK_NOT_EQUAL(r.exit_code, 0);
    CAF_MESSAGE(r.err);
    CAF_CHECK(contains(r.err, "password authentication failed"));
    CAF_CHECK(!contains(r.err + r.out, wrong_password));
    test::write_file(topo,
                     "database: { dsn: \"${PBT_DSN}\", password_file: '" + good + "' }\n" + roles);
    auto ok = test::run_cli({"--topology", topo, "queues"}, {"POSTBOX_DSN=", "PBT_DSN=" + dsn});
    CAF_MESSAGE(ok.err);
    CAF_CHECK_EQUAL(ok.exit_code, 0);
    CAF_CHECK(!contains(ok.err + ok.out, role.password));
  }
  test::exec(db_dsn, "DROP OWNED BY " + role.name);  // so the role can be dropped
}

CAF_TEST(a missing database is reported without the password) {
  // Behind trust auth the server names the database it cannot find: appended to a
  // URI, the password (and application_name) used to become part of that name.
  const std::string password = "Pw-" + std::to_string(::getpid()) + "-in-no-message";
  auto dir = test::make_temp_dir("password_trust");
  for (const auto& server :
       {test::as_key_value(test::server_dsn()), test::as_uri(test::server_dsn())}) {
    database_config db;
    db.dsn = test::with_database(server, "pbt_no_such_db");
    db.password_file = test::write_file(dir + "/pw", password + "\n");
    auto dsn = effective_dsn(db);
    CAF_REQUIRE(dsn);
    pg_session s{{*dsn, "dsn-test"}};
    auto err = s.connect();
    CAF_REQUIRE(err);
    CAF_MESSAGE(describe(err));
    CAF_CHECK(contains(describe(err), "database \"pbt_no_such_db\" does not exist"));
    CAF_CHECK(!contains(describe(err), password));
    notification_listener listener{*dsn};
    auto got = listener.wait(10ms);
    CAF_REQUIRE(!got);
    CAF_MESSAGE(describe(got.error()));
    CAF_CHECK(contains(describe(got.error()), "database \"pbt_no_such_db\" does not exist"));
    CAF_CHECK(!contains(describe(got.error()), password));
  }
}

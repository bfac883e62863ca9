// The SQL API (migration 009): postbox.submit and postbox.send inside the caller's own
// transaction leave nothing when it rolls back, create exactly what the client (and
// so the CLI) creates when it commits, refuse bad arguments naming them, and an
// execution submitted from SQL runs to COMPLETED on a node, woken by its NOTIFY.
#define CAF_SUITE sql_api
#include <caf/test/unit_test.hpp>
#include <memory>
#include <pqxx/pqxx>

#include "client/client.hpp"
#include "support/node_process.hpp"
#include "support/pg_fixture.hpp"

using namespace postbox;
using namespace std::chrono_literals;

namespace {

struct fixture {
  std::string dsn = test::create_migrated_database("sql_api");
  std::string dir = test::make_temp_dir("sql_api");
  std::string topology = test::write_file(dir + "/topology.yaml", R"(cluster: sql
database: { dsn: "${POSTBOX_DSN}" }
queues:
  orchestrator: { poll_interval: 30s }
  file_batch:   { poll_interval: 30s }
  callback:     { poll_interval: 30s }
workflows:
  sums: { processor: checksum, batch_size: 2 }
nodes:
  n1: { actors: [ { role: orchestrator }, { role: file_batch }, { role: callback } ] }
)");

  int64_t n(const std::string& sql) { return test::count(dsn, sql); }
  std::string text(const std::string& sql) { return test::scalar(dsn, sql); }

  /// The error a statement raises ("" if none): SQLSTATE and message.
  std::string refusal(const std::string& sql) {
    try {
      pqxx::connection c{dsn};
      pqxx::work w{c};
      w.exec(sql);
      return "";
    } catch (const pqxx::sql_error& e) {
      return e.sqlstate() + " " + e.what();
    }
  }

  void record_workflow() {
    test::exec(dsn,
               "INSERT INTO postbox.workflows (name, processor, batch_size, recorded_by) "
               "VALUES ('sums', 'checksum', 2, 'test')");
  }
};

bool says(const std::string& error, const std::string& part) {
  bool found = error.find(part) != std::string::npos;
  if (!found) CAF_MESSAGE("expected '" << part << "' in: " << error);
  return found;
}

}  // namespace

CAF_TEST_FIXTURE_SCOPE(sql_api_tests, fixture)

CAF_TEST(a rolled back transaction leaves no execution and no message) {
  record_workflow();
  test::exec(dsn, "CREATE TABLE orders (id int PRIMARY KEY)");
  {
    pqxx::connection c{dsn};
    pqxx::work w{c};
    w.exec("INSERT INTO orders VALUES (1)");
    auto id = w.exec("SELECT postbox.submit('sums', ARRAY['/a', '/b'])");
    CAF_CHECK(!id[0][0].is_null());
    w.exec("SELECT postbox.send('tools', 'tool_call', '{\"tool\": \"upper\"}')");
    CAF_CHECK_EQUAL(w.exec("SELECT count(*) FROM postbox.mailbox")[0][0].as<int>(), 2);
    w.abort();
  }
  CAF_CHECK_EQUAL(n("SELECT count(*) FROM orders"), 0);
  CAF_CHECK_EQUAL(n("SELECT count(*) FROM postbox.executions"), 0);
  CAF_CHECK_EQUAL(n("SELECT count(*) FROM postbox.mailbox"), 0);
}

// Migration 017: the API runs as its owner, so its checks are not advisory. A login
// role granted postbox_client sends, submits and cancels, and is refused a direct
// INSERT (or any other access) on the tables; a role without it cannot even call send.
CAF_TEST(the postbox_client role can call the api and cannot write the tables) {
  record_workflow();
  // Roles are cluster-wide: one per test database, created idempotently.
  const std::string db = text("SELECT current_database()");
  const std::string member = db + "_app", outsider = db + "_other";
  test::exec(dsn, "DO $$ BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '" + member +
                      "') THEN CREATE ROLE \"" + member +
                      "\" LOGIN; END IF; "
                      "IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '" +
                      outsider + "') THEN CREATE ROLE \"" + outsider +
                      "\" LOGIN; END IF; END $$; "
                      "GRANT postbox_client TO \"" +
                      member + "\"; GRANT USAGE ON SCHEMA postbox TO \"" + outsider + "\"");
  // (The outsider may see the schema: only the revoked EXECUTE stands in its way.)
  auto as = [&](const std::string& role) { return test::as_key_value(dsn) + " user=" + role; };
  auto refused = [&](const std::string& role, const std::string& sql) {
    try {
      pqxx::connection c{as(role)};
      pqxx::work w{c};
      w.exec(sql);
      w.commit();
      return std::string();
    } catch (const pqxx::sql_error& e) {
      return e.sqlstate() + " " + e.what();
    }
  };
  {
    pqxx::connection c{as(member)};
    pqxx::work w{c};
    CAF_CHECK_EQUAL(w.exec("SELECT current_user")[0][0].c_str(), member);
    w.exec("SELECT postbox.send('tools', 'tool_call', '{\"tool\": \"upper\"}')");
    auto id = w.exec("SELECT postbox.submit('sums', ARRAY['/a'])")[0][0].as<std::string>();
    w.exec("SELECT postbox.cancel('" + id + "')");
    w.commit();
  }
  CAF_CHECK_EQUAL(n("SELECT count(*) FROM postbox.mailbox WHERE queue = 'tools'"), 1);
  CAF_CHECK_EQUAL(n("SELECT count(*) FROM postbox.executions WHERE status = 'STOPPED'"), 1);
  // Its checks still refuse bad input, now as the only way in.
  CAF_CHECK(says(refused(member, "SELECT postbox.send('', 'x', '{}')"), "22023"));
  for (const char* sql :
       {"INSERT INTO postbox.mailbox (queue, type, payload) VALUES ('tools', 'x', '{}')",
        "UPDATE postbox.mailbox SET visible_at = now()", "SELECT count(*) FROM postbox.mailbox",
        "DELETE FROM postbox.executions"})
    CAF_CHECK(says(refused(member, sql), "permission denied for table"));
  CAF_CHECK(says(refused(outsider, "SELECT postbox.send('tools', 'x', '{}')"),
                 "permission denied for function send"));
  CAF_CHECK_EQUAL(n("SELECT count(*) FROM postbox.mailbox WHERE queue = 'tools'"), 1);
}

CAF_TEST(committed it creates exactly what the client creates) {
  record_workflow();
  auto a = test::write_file(dir + "/in/a.txt", "a");
  auto b = test::write_file(dir + "/in/b.txt", "b");
  const std::string headers =
      R"({"on_success": {"queue": "hooks", "type": "done", "payload": {"ticket": 7}}})";
  client c{dsn};
  submit_request req;
  req.workflow = "sums";
  req.paths = {a, b};
  req.org = "acme";
  req.headers = headers;
  auto by_client = c.submit(req);
  CAF_REQUIRE(by_client);
  auto by_sql = text("SELECT postbox.submit('sums', ARRAY['" + a + "', '" + b +
                     "'], NULL, 'acme', '" + headers + "')");
  CAF_REQUIRE(!by_sql.empty());
  auto same = [&](const std::string& sql) {
    auto l = text(sql + " WHERE " + "execution_id = '" + by_client->execution_id + "'");
    auto r = text(sql + " WHERE " + "execution_id = '" + by_sql + "'");
    CAF_CHECK_EQUAL(l, r);
    CAF_CHECK(!l.empty());
  };
  // ROW(...)::text tells NULL from '' (concat_ws would skip a NULL).
  same(
      "SELECT ROW(queue, type, org, payload - 'execution_id', headers, read_ct, "
      "attempts, visible_at <= now())::text FROM postbox.mailbox");
  same(
      "SELECT ROW(org, workflow, status, batch_size, files_total, files_done, "
      "headers)::text FROM (SELECT *, id AS execution_id FROM postbox.executions) e");
  // With every default (no org: '' on the execution, NULL on the message).
  submit_request plain;
  plain.workflow = "sums";
  plain.paths = {a};
  auto plain_client = c.submit(plain);
  CAF_REQUIRE(plain_client);
  auto plain_sql = text("SELECT postbox.submit('sums', ARRAY['" + a + "'])");
  auto message = [&](const std::string& id) {
    return text(
        "SELECT ROW(queue, type, org, payload - 'execution_id', headers)::text FROM "
        "postbox.mailbox WHERE execution_id = '" +
        id + "'");
  };
  CAF_CHECK_EQUAL(message(plain_client->execution_id), message(plain_sql));
  auto execution = [&](const std::string& id) {
    return text(
        "SELECT ROW(org, batch_size, files_total, headers)::text FROM "
        "postbox.executions WHERE id = '" +
        id + "'");
  };
  CAF_CHECK_EQUAL(execution(plain_client->execution_id), execution(plain_sql));
  CAF_CHECK_EQUAL(n("SELECT count(*) FROM postbox.mailbox WHERE org IS NULL AND execution_id = '" +
                    plain_sql + "'"),
                  1);
  CAF_CHECK_EQUAL(text("SELECT payload->>'execution_id' FROM postbox.mailbox WHERE "
                       "execution_id = '" +
                       by_sql + "'"),
                  by_sql);
  // send: the same message the client sends, identity taken from the payload.
  auto sent = c.send("tools", "tool_call", R"({"tool": "upper", "execution_id": "x-1"})", headers);
  CAF_REQUIRE(sent);
  auto sent_sql = text(
      "SELECT postbox.send('tools', 'tool_call', '{\"tool\": \"upper\", \"execution_id\": "
      "\"x-1\"}', '" +
      headers + "')");
  auto row = [&](const std::string& id) {
    return text(
        "SELECT ROW(queue, type, execution_id, org, payload, headers)::text FROM "
        "postbox.mailbox WHERE id = " +
        id);
  };
  CAF_CHECK_EQUAL(row(std::to_string(*sent)), row(sent_sql));
  // A delay leaves it invisible for that long.
  auto later = text("SELECT postbox.send('tools', 'tool_call', '{}', delay => '1 hour')");
  CAF_CHECK_EQUAL(n("SELECT count(*) FROM postbox.mailbox WHERE id = " + later +
                    " AND visible_at > now() + interval '59 minutes'"),
                  1);
}

CAF_TEST(bad arguments are refused with an error naming them) {
  CAF_CHECK(says(refusal("SELECT postbox.submit('sums', ARRAY['/a'])"),
                 "22023 ERROR:  postbox.submit: unknown workflow 'sums' (known: none yet"));
  record_workflow();
  CAF_CHECK(says(refusal("SELECT postbox.submit('nope', ARRAY['/a'])"),
                 "unknown workflow 'nope' (known: sums)"));
  CAF_CHECK(says(refusal("SELECT postbox.submit('sums', ARRAY[]::text[])"), "files is empty"));
  CAF_CHECK(says(refusal("SELECT postbox.submit('sums', ARRAY['/a', NULL])"), "files[2] is empty"));
  CAF_CHECK(says(refusal("SELECT postbox.submit('sums', ARRAY['/a'], 0)"),
                 "batch_size must be from 1 to 1000000, got 0"));
  CAF_CHECK(says(refusal("SELECT postbox.submit('sums', ARRAY['/a'], NULL, '', '[]')"),
                 "headers must be a JSON object, got array"));
  CAF_CHECK(says(refusal("SELECT postbox.send('', 't', '{}')"), "postbox.send: queue is required"));
  CAF_CHECK(says(refusal("SELECT postbox.send('q', NULL, '{}')"), "type is required"));
  CAF_CHECK(says(refusal("SELECT postbox.send('q', 't', '[1]')"),
                 "payload must be a JSON object, got array"));
  CAF_CHECK(
      says(refusal("SELECT postbox.send('q', 't', '{}', '{\"on_error\": {\"type\": \"x\"}}')"),
           "headers.on_error.queue is required"));
  CAF_CHECK(says(refusal("SELECT postbox.send('q', 't', '{}', '{\"on_success\": {\"queue\": "
                         "\"h\"}}')"),
                 "headers.on_success.type is required"));
  CAF_CHECK(says(refusal("SELECT postbox.send('q', 't', '{}', delay => '-1 second')"),
                 "delay must be zero or more"));
  CAF_CHECK(says(refusal("SELECT postbox.send('orchestrator', 'execute_workflow', "
                         "'{\"execution_id\": \"e\", \"workflow\": \"sums\", \"files\": []}')"),
                 "payload.files (or blob_ids) must be a non-empty array of strings"));
  CAF_CHECK(says(refusal("SELECT postbox.send('callback', 'execution_callback', '{}')"),
                 "payload.execution_id is required for type execution_callback"));
  // What the nodes' decoder refuses, SQL refuses too.
  CAF_CHECK(says(refusal("SELECT postbox.send('q', 't', '{}', '{\"group\": {\"id\": \"g\", "
                         "\"index\": -1}}')"),
                 "headers.group must be"));
  CAF_CHECK(says(refusal("SELECT postbox.send('q', 't', '{}', '{\"group\": {\"id\": \"\", "
                         "\"index\": 0}}')"),
                 "headers.group must be"));
  CAF_CHECK(says(refusal("SELECT postbox.send('orchestrator', 'execute_workflow', "
                         "'{\"execution_id\": \"e\", \"workflow\": \"sums\", \"files\": "
                         "[\"/a\"], \"batch_size\": -3}')"),
                 "payload.batch_size must be an integer from 0"));
  CAF_CHECK(says(refusal("SELECT postbox.send('file_batch', 'process_file_batch', "
                         "'{\"execution_id\": \"e\", \"batch_index\": 1.5, \"files\": []}')"),
                 "payload.batch_index is required (an integer from 0)"));
  CAF_CHECK(says(refusal("SELECT postbox.send('callback', 'execution_callback', "
                         "'{\"execution_id\": \"A\"}', execution_id => 'B')"),
                 "execution_id \"B\" differs from payload.execution_id \"A\""));
  CAF_CHECK(says(refusal("SELECT postbox.submit('sums', ARRAY[['/a', '/b'], ['/c', '/d']])"),
                 "files must be a one-dimensional text[]"));
  CAF_CHECK(says(refusal("SELECT postbox.send('q', 't', '{}', delay => NULL)"),
                 "delay must be an interval, got NULL"));
  CAF_CHECK_EQUAL(n("SELECT count(*) FROM postbox.mailbox"), 0);
  CAF_CHECK_EQUAL(n("SELECT count(*) FROM postbox.executions"), 0);
  // JSON null in an optional field is "absent", as the nodes read it.
  CAF_CHECK_EQUAL(refusal("SELECT postbox.send('q', 't', '{}', '{\"on_success\": null, "
                          "\"reply_key\": null, \"group\": null, \"trace_id\": null}')"),
                  "");
}

CAF_TEST(an execution submitted from sql runs on a node to completed) {
  test::node_process node{topology, "n1", dsn};
  CAF_REQUIRE(node.start());
  // The node records its topology's workflows when it starts.
  CAF_REQUIRE(test::wait_until(
      [&] { return n("SELECT count(*) FROM postbox.workflows WHERE name = 'sums'") == 1; }, 20s));
  std::string files = "ARRAY[";
  for (int i = 0; i < 5; ++i)
    files += (i ? ", '" : "'") + test::write_file(dir + "/run/f" + std::to_string(i), "x") + "'";
  files += "]";
  auto id = text("SELECT postbox.submit('sums', " + files + ")");
  // Polls every 30 s: only the NOTIFY of the SQL inserts can wake it in time.
  CAF_CHECK(test::wait_until(
      [&] {
        return text("SELECT status FROM postbox.executions WHERE id = '" + id + "'") == "COMPLETED";
      },
      20s, 100ms));
  CAF_CHECK_EQUAL(n("SELECT count(*) FROM postbox.file_results WHERE status = 'done' AND "
                    "execution_id = '" +
                    id + "'"),
                  5);
}

CAF_TEST_FIXTURE_SCOPE_END()

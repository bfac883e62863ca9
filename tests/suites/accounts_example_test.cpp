// The accounts example (apps/examples/accounts) as its README runs it: its node from
// accounts.yaml, driven by the CLI (send --actor with continuations naming actors,
// actor show); a transfer refused and one that goes through, interest paid by the
// monthly reminder (a month of two seconds here).
#define CAF_SUITE accounts_example
#include <boost/json.hpp>
#include <caf/test/unit_test.hpp>

#include "support/files.hpp"
#include "support/node_process.hpp"
#include "support/pg_fixture.hpp"

using namespace postbox;
using namespace std::chrono_literals;
namespace json = boost::json;

namespace {

struct fixture {
  std::string dsn = test::create_migrated_database("accounts");
  std::string topo = test::source_path("apps/examples/accounts/accounts.yaml");
  std::vector<std::string> env = {"ACCOUNTS_CONTROL_PORT=" + std::to_string(test::free_port()),
                                  "ACCOUNTS_HTTP_PORT=" + std::to_string(test::free_port())};

  test::cli_result cli(std::vector<std::string> args) {
    args.insert(args.begin(), {"--topology", topo, "--dsn", dsn});
    auto r = test::run_cli(args, env);
    if (r.exit_code != 0) CAF_MESSAGE("postbox " << args.at(4) << ": " << r.err);
    return r;
  }
  int send(const std::string& key, const std::string& type, const std::string& payload,
           const std::string& on_success = "", const std::string& on_error = "") {
    std::vector<std::string> args = {"send", "--actor",        "account/" + key, "--type",
                                     type,   "--json-payload", payload};
    if (!on_success.empty()) args.insert(args.end(), {"--on-success", on_success});
    if (!on_error.empty()) args.insert(args.end(), {"--on-error", on_error});
    return cli(args).exit_code;
  }
  /// A transfer: withdraw from `from`; on success deposit to `to`, else tell `from`.
  int transfer(const std::string& from, const std::string& to, int64_t amount) {
    auto n = std::to_string(amount);
    return send(from, "withdraw", R"({"amount": )" + n + "}",
                R"({"actor": {"type": "account", "key": ")" + to +
                    R"("}, "type": "deposit", "payload": {"amount": )" + n + "}}",
                R"({"actor": {"type": "account", "key": ")" + from +
                    R"("}, "type": "transfer_refused", "payload": {}})");
  }
  json::object state(const std::string& key) {
    auto s = test::scalar(dsn, "SELECT postbox.actor_state('account', '" + key + "')::text");
    if (s.empty()) return {};
    return json::parse(s).as_object();
  }
  std::string log(const std::string& key) {
    auto s = state(key);
    auto* l = s.if_contains("log");
    return l ? json::serialize(*l) : "";
  }
};

}  // namespace

CAF_TEST_FIXTURE_SCOPE(accounts_example_tests, fixture)

CAF_TEST(transfers refused and done interest paid by the monthly reminder) {
  test::node_process bank(topo, "bank", dsn, env);
  bank.use_binary("postbox-example-accounts");
  CAF_REQUIRE(bank.start());
  CAF_REQUIRE(test::wait_until(
      [&] { return test::count(dsn, "SELECT count(*) FROM postbox.actor_types") == 1; }, 60s));
  CAF_REQUIRE_EQUAL(send("alice", "open_account", R"({"rate_bp": 1000, "month_ms": 2000})"), 0);
  CAF_REQUIRE_EQUAL(send("alice", "deposit", R"({"amount": 100})"), 0);
  CAF_REQUIRE_EQUAL(transfer("alice", "bob", 500), 0);  // refused: only 100
  CAF_REQUIRE_EQUAL(transfer("alice", "bob", 30), 0);
  CAF_REQUIRE(
      test::wait_until([&] { return state("bob").if_contains("balance") != nullptr; }, 30s));
  CAF_CHECK_EQUAL(log("bob"), R"(["+30"])");
  CAF_CHECK_EQUAL(state("bob").at("balance").as_int64(), 30);
  // Alice's turns in the order they were sent: the refusal came back as its own turn.
  CAF_REQUIRE(
      test::wait_until([&] { return log("alice").find("refused: ") != std::string::npos; }, 30s));
  auto l = log("alice");
  CAF_CHECK_EQUAL(l.rfind(R"(["opened","+100",)", 0), 0u);
  CAF_CHECK(l.find("insufficient funds: balance 100, withdrawal 500") != std::string::npos);
  CAF_CHECK(l.find(R"("-30")") != std::string::npos);
  CAF_CHECK_EQUAL(test::count(dsn,
                              "SELECT count(*) FROM postbox.dead_letters WHERE "
                              "actor_key = 'alice' AND type = 'withdraw'"),
                  1);
  // Interest: 10% of the balance each two-second month, by the reminder.
  CAF_REQUIRE(
      test::wait_until([&] { return log("alice").find("interest") != std::string::npos; }, 30s));
  CAF_CHECK_GREATER_OR_EQUAL(state("alice").at("balance").as_int64(), 77);
  // The CLI reads the same state without a turn.
  auto shown = cli({"--json", "actor", "show", "account", "bob"});
  CAF_CHECK_EQUAL(shown.exit_code, 0);
  CAF_CHECK(shown.out.find("\"balance\":30") != std::string::npos ||
            shown.out.find("\"balance\": 30") != std::string::npos);
  // Nothing is stuck: no blocked key, nothing queued but alice's next interest tick.
  CAF_CHECK_EQUAL(
      test::count(dsn, "SELECT count(*) FROM postbox.actors WHERE blocked_at IS NOT NULL"), 0);
  CAF_CHECK_EQUAL(test::count(dsn,
                              "SELECT count(*) FROM postbox.reminders WHERE "
                              "actor_key = 'alice' AND name = 'interest'"),
                  1);
}

CAF_TEST_FIXTURE_SCOPE_END()

// Messages between keyed actors, in process (handle_delivery as a worker runs it, on
// the real mailbox): continuations (on_success, on_error, a fan_out's callback, an
// execution's on_error from SQL) that name an actor arrive as keyed messages in its
// turn; asks between actors come back as messages, and an actor asking itself is
// refused at once.
#define CAF_SUITE actor_messages
#include <boost/json.hpp>
#include <caf/test/unit_test.hpp>
#include <postbox/postbox.hpp>

#include "actors/runtime/dispatch.hpp"
#include "config/topology.hpp"
#include "messages/json_codec.hpp"
#include "persistence/actor_store.hpp"
#include "persistence/mailbox_store.hpp"
#include "support/pg_fixture.hpp"

using namespace postbox;
using namespace std::chrono_literals;

namespace {

struct account {
  int64_t balance = 0;
  std::vector<std::string> log;
};
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, account& x) {
  return f(caf::meta::type_name("account"), field("balance", x.balance), field("log", x.log));
}

/// Money in; `from` names where it came from.
struct deposit {
  int64_t amount = 0;
  std::string from;
};
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, deposit& x) {
  return f(caf::meta::type_name("deposit"), field("amount", x.amount), field("from", x.from));
}

/// Money out, refused (rejected) below zero.
struct withdraw {
  int64_t amount = 0;
  std::string to;
};
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, withdraw& x) {
  return f(caf::meta::type_name("withdraw"), field("amount", x.amount), field("to", x.to));
}

/// A transfer's on_error: the withdraw that was refused (plus status, error).
struct refused {
  int64_t amount = 0;
  std::string to;
  std::string error;
};
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, refused& x) {
  return f(caf::meta::type_name("refused"), field("amount", x.amount), field("to", x.to),
           field("error", x.error));
}

/// A fan_out's callback to an actor: the group's outcomes.
struct paid {
  json_text results;
};
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, paid& x) {
  return f(caf::meta::type_name("paid"), field("results", x.results));
}

/// A payroll (no actor) that deposits `amount` to each of `keys` as a group, the
/// callback going to actor account/`payer`.
struct payroll {
  std::vector<std::string> keys;
  int64_t amount = 0;
  std::string payer;
};
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, payroll& x) {
  return f(caf::meta::type_name("payroll"), field("keys", x.keys), field("amount", x.amount),
           field("payer", x.payer));
}

/// Asks account/`key` for its balance (`n` numbers the ask); `self_ask`: asks itself.
struct audit {
  std::string key;
  int64_t n = 0;
};
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, audit& x) {
  return f(caf::meta::type_name("audit"), field("key", x.key), field("n", x.n));
}

/// The asked account's answer.
struct balance_query {
  int64_t n = 0;
};
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, balance_query& x) {
  return f(caf::meta::type_name("balance_query"), field("n", x.n));
}
struct balance_is {
  std::string key;
  int64_t n = 0;
  int64_t balance = 0;
};
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, balance_is& x) {
  return f(caf::meta::type_name("balance_is"), field("key", x.key), field("n", x.n),
           field("balance", x.balance));
}

outcome on_deposit(context&, account& a, const deposit& d) {
  a.balance += d.amount;
  a.log.push_back("dep:" + d.from + ":" + std::to_string(d.amount));
  return {};
}

outcome on_withdraw(context&, account& a, const withdraw& w) {
  if (a.balance < w.amount)
    return outcome::reject("insufficient funds: " + std::to_string(a.balance) + " < " +
                           std::to_string(w.amount));
  a.balance -= w.amount;
  a.log.push_back("wd:" + w.to + ":" + std::to_string(w.amount));
  return {};
}

outcome on_refused(context&, account& a, const refused& r) {
  a.log.push_back("refused:" + r.to + ":" + std::to_string(r.amount));
  return {};
}

outcome on_paid(context&, account& a, const paid& p) {
  a.log.push_back("paid:" + std::to_string(boost::json::parse(p.results.text).as_array().size()));
  return {};
}

outcome on_audit(context& ctx, account& a, const audit& x) {
  if (auto err = ctx.ask(actor("account", x.key), balance_query{x.n}, "balance_is")) {
    a.log.push_back("ask refused: " + describe(err));
    return {};
  }
  a.log.push_back("asked:" + x.key + ":" + std::to_string(x.n));
  return {};
}

outcome on_balance_query(context& ctx, account& a, const balance_query& q) {
  a.log.push_back("queried:" + std::to_string(q.n));
  ctx.reply(balance_is{ctx.actor_key(), q.n, a.balance});
  return {};
}

outcome on_balance_is(context&, account& a, const balance_is& b) {
  a.log.push_back("answer:" + b.key + ":" + std::to_string(b.n) + ":" + std::to_string(b.balance));
  return {};
}

outcome run_payroll(context& ctx, const payroll& p) {
  std::vector<message_out> children;
  for (const auto& k : p.keys)
    children.push_back(message_out::to(actor("account", k), deposit{p.amount, "payroll"}));
  ctx.fan_out(std::move(children), message_out::to(actor("account", p.payer), paid{}));
  return {};
}

topology test_topology() {
  auto t = load_topology_string(R"(database: {dsn: 'x'}
queues:
  accounts: {visibility_timeout: 30s, max_attempts: 1}
  payroll: {visibility_timeout: 30s, max_attempts: 1}
actor_types:
  account: {on_poison: skip}
nodes:
  a:
    actors:
      - {queue: accounts}
      - {queue: payroll}
)",
                                "actor_messages.yaml");
  if (!t) throw std::runtime_error("topology: " + describe(t.error()));
  return std::move(*t);
}

registry test_registry() {
  registry r;
  r.actor<account>("account", "accounts")
      .on<deposit>(on_deposit)
      .on<withdraw>(on_withdraw)
      .on<refused>(on_refused)
      .on<paid>(on_paid)
      .on<audit>(on_audit)
      .on<balance_query>(on_balance_query)
      .on<balance_is>(on_balance_is);
  r.on<payroll>("payroll", run_payroll);
  return r;
}

struct fixture {
  std::string dsn = test::create_migrated_database("actor_messages");
  topology topo = test_topology();
  handler_registry handlers = test_registry();
  pg_session session{session_options{dsn, "actor-messages-test"}};
  handler_context ctx{session, topo, handlers, "a/accounts/w0"};
  mailbox_store mailbox{session};
  actor_store actors{session};

  fixture() {
    auto err = actors.register_types(handlers.actor_types(), {{"account", "skip"}}, "a");
    CAF_REQUIRE(!err);
  }

  int64_t send_to(const std::string& key, const std::string& type, const std::string& payload,
                  message_headers h = {}) {
    outgoing_message m;
    m.type = type;
    m.payload = payload;
    m.headers = to_json(h);
    m.actor_type = "account";
    m.actor_key = key;
    auto id = mailbox.send(m);
    if (!id) CAF_FAIL("send: " << describe(id.error()));
    return *id;
  }

  /// Runs `queue` as a consumer would (promote, claim, handle) until it is empty;
  /// how many deliveries it handled.
  int drain(const std::string& queue = "accounts") {
    int handled = 0;
    for (int round = 0; round < 100; ++round) {
      auto made = actors.promote(queue, 100);
      CAF_REQUIRE(made);
      auto got = mailbox.read(queue, 100, 30s, "a/" + queue);
      if (!got) CAF_FAIL("read: " << describe(got.error()));
      if (got->empty()) return handled;
      for (const auto& d : *got) {
        auto max = topo.queue(queue).max_attempts;
        auto r = attempts_exhausted(d, max) ? poison(ctx, d, attempts_exhausted_reason(d, max))
                                            : handle_delivery(ctx, d);
        CAF_MESSAGE(d.type << " " << d.id << " to " << d.actor_key << ": " << to_string(r.what)
                           << " " << r.detail);
        ++handled;
      }
    }
    CAF_FAIL(queue << " did not drain");
    return handled;
  }

  long long n(const std::string& sql) { return test::count(dsn, sql); }
  std::string text(const std::string& sql) { return test::scalar(dsn, sql); }
  std::string state(const std::string& key) {
    return text("SELECT postbox.actor_state('account', '" + key + "')::text");
  }
  long long balance(const std::string& key) {
    return n("SELECT (postbox.actor_state('account', '" + key + "')->>'balance')::bigint");
  }
  std::string log(const std::string& key) {
    return text(
        "SELECT string_agg(e, ',' ORDER BY i) FROM jsonb_array_elements_text("
        "postbox.actor_state('account', '" +
        key + "')->'log') WITH ORDINALITY AS t(e, i)");
  }
};

/// A transfer: withdraw from `from`; on success deposit to `to`, on error tell `from`.
message_headers transfer(const std::string& from, const std::string& to, int64_t amount) {
  message_headers h;
  h.has_on_success = true;
  h.on_success =
      continuation::to(actor("account", to), "deposit",
                       R"({"amount":)" + std::to_string(amount) + R"(,"from":")" + from + R"("})");
  h.has_on_error = true;
  h.on_error =
      continuation::to(actor("account", from), "refused",
                       R"({"amount":)" + std::to_string(amount) + R"(,"to":")" + to + R"("})");
  return h;
}

}  // namespace

CAF_TEST_FIXTURE_SCOPE(actor_messages_tests, fixture)

CAF_TEST(continuations name an actor as json and round trip) {
  auto h = transfer("a", "b", 5);
  auto json = to_json(h);
  CAF_MESSAGE(json);
  CAF_CHECK(json.find(R"("actor":{"type":"account","key":"b"})") != std::string::npos);
  auto back = decode_message_headers(json);
  CAF_REQUIRE(back);
  CAF_CHECK_EQUAL(back->on_success.actor_key, "b");
  CAF_CHECK_EQUAL(back->on_error.actor_key, "a");
  CAF_CHECK(*back == h);
  // A queue is optional with an actor, required without; a bad actor is named.
  CAF_CHECK(!decode_message_headers(R"({"on_success": {"type": "t"}})"));
  auto bad = decode_message_headers(R"({"on_success": {"type": "t", "actor": {"type": "x"}}})");
  CAF_REQUIRE(!bad);
  CAF_CHECK(describe(bad.error()).find("on_success.actor.key") != std::string::npos);
}

CAF_TEST(a transfer between two actors is two messages chained by continuations) {
  send_to("A", "deposit", R"({"amount": 100, "from": "init"})");
  // 30 moves; 500 is refused: its on_error goes back to A as a message of its own.
  send_to("A", "withdraw", R"({"amount": 30, "to": "B"})", transfer("A", "B", 30));
  send_to("A", "withdraw", R"({"amount": 500, "to": "B"})", transfer("A", "B", 500));
  send_to("A", "withdraw", R"({"amount": 20, "to": "B"})", transfer("A", "B", 20));
  drain();
  CAF_CHECK_EQUAL(balance("A"), 50);
  CAF_CHECK_EQUAL(balance("B"), 50);
  CAF_CHECK_EQUAL(log("A"), "dep:init:100,wd:B:30,wd:B:20,refused:B:500");
  CAF_CHECK_EQUAL(log("B"), "dep:A:30,dep:A:20");
  // Every message ended: none left, the refused withdraw dead-lettered (on_poison skip).
  CAF_CHECK_EQUAL(n("SELECT count(*) FROM postbox.mailbox"), 0);
  CAF_CHECK_EQUAL(n("SELECT count(*) FROM postbox.dead_letters WHERE type = 'withdraw' AND "
                    "actor_key = 'A' AND payload->>'amount' = '500'"),
                  1);
  CAF_CHECK_EQUAL(n("SELECT turns FROM postbox.actors WHERE actor_key = 'A'"), 5);
  CAF_CHECK_EQUAL(n("SELECT turns FROM postbox.actors WHERE actor_key = 'B'"), 2);
}

CAF_TEST(a fan_out callback to an actor arrives in its turn with the outcomes) {
  mailbox.send(outgoing_message{"payroll", "payroll", "", "",
                                R"({"keys": ["x", "y", "z"], "amount": 7, "payer": "boss"})"});
  drain("payroll");
  drain();
  CAF_CHECK_EQUAL(balance("x"), 7);
  CAF_CHECK_EQUAL(balance("z"), 7);
  CAF_CHECK_EQUAL(log("boss"), "paid:3");
  CAF_CHECK_EQUAL(n("SELECT count(*) FROM postbox.mailbox"), 0);
  CAF_CHECK_EQUAL(n("SELECT count(*) FROM postbox.dead_letters"), 0);
}

CAF_TEST(an execution on_error naming an actor goes to it from SQL) {
  // The SQL API accepts a continuation to an actor (no queue: the type's), and the
  // cancel's on_error (postbox.enqueue_on_error) arrives as a keyed message.
  test::exec(dsn,
             "INSERT INTO postbox.workflows (name, processor, batch_size, recorded_by) "
             "VALUES ('wf', 'checksum', 2, 'test')");
  auto id = text(
      "SELECT postbox.submit('wf', ARRAY['/a'], headers => '{\"on_error\": {\"actor\": "
      "{\"type\": \"account\", \"key\": \"ops\"}, \"type\": \"refused\", \"payload\": "
      "{\"amount\": 1, \"to\": \"wf\"}}}'::jsonb)");
  CAF_CHECK_EQUAL(text("SELECT status FROM postbox.cancel('" + id + "')"), "STOPPED");
  CAF_CHECK_EQUAL(n("SELECT count(*) FROM postbox.mailbox WHERE type = 'refused' AND "
                    "actor_type = 'account' AND actor_key = 'ops' AND queue = 'accounts'"),
                  1);
  drain();
  CAF_CHECK_EQUAL(log("ops"), "refused:wf:1");
  // Still refused: a continuation with neither queue nor actor, a malformed actor.
  auto refusal = [&](const std::string& headers) {
    try {
      test::exec(dsn, "SELECT postbox.send('accounts', 't', '{}', headers => '" + headers + "')");
      return std::string();
    } catch (const std::exception& e) {
      return std::string(e.what());
    }
  };
  auto no_target = refusal(R"({"on_success": {"type": "t"}})");
  CAF_MESSAGE(no_target);
  CAF_CHECK(no_target.find("headers.on_success.queue is required") != std::string::npos);
  auto half_actor = refusal(R"({"on_success": {"type": "t", "actor": {"type": "account"}}})");
  CAF_MESSAGE(half_actor);
  CAF_CHECK(half_actor.find("headers.on_success.actor must be") != std::string::npos);
}

CAF_TEST(an ask to another actor comes back as a message in order) {
  send_to("B", "deposit", R"({"amount": 9, "from": "init"})");
  for (int i = 1; i <= 3; ++i)
    send_to("A", "audit", R"({"key": "B", "n": )" + std::to_string(i) + "}");
  send_to("B", "deposit", R"({"amount": 1, "from": "late"})");
  drain();
  // B answered each ask in its turn order; the answers came back to A in that order.
  CAF_CHECK_EQUAL(log("A"),
                  "asked:B:1,asked:B:2,asked:B:3,answer:B:1:10,answer:B:2:10,answer:B:3:10");
  CAF_CHECK_EQUAL(log("B"), "dep:init:9,dep:late:1,queried:1,queried:2,queried:3");
  CAF_CHECK_EQUAL(n("SELECT count(*) FROM postbox.mailbox"), 0);
}

CAF_TEST(an actor asking itself is refused at once and nothing is sent) {
  send_to("A", "audit", R"({"key": "A", "n": 1})");
  CAF_CHECK_EQUAL(drain(), 1);
  auto l = log("A");
  CAF_MESSAGE(l);
  CAF_CHECK(l.find("ask refused: invalid_argument: actor account/A asks itself") == 0);
  CAF_CHECK_EQUAL(n("SELECT count(*) FROM postbox.mailbox"), 0);
  CAF_CHECK_EQUAL(n("SELECT turns FROM postbox.actors WHERE actor_key = 'A'"), 1);
}

CAF_TEST_FIXTURE_SCOPE_END()

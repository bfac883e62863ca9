// accounts: a keyed actor users copy. One `account` actor per key holds a balance;
// deposits and withdrawals are its turns, one at a time in the order they were sent. A
// withdrawal below zero is refused; interest is paid by a monthly reminder; a transfer
// between two accounts is two messages chained by continuations: the withdrawal from
// the source, on success a deposit to the target, on error a note back to the source.
#include <chrono>
#include <postbox/postbox.hpp>
#include <string>
#include <vector>

struct account {
  int64_t balance = 0;
  int64_t rate_bp = 0;  // monthly interest, in basis points
  std::vector<std::string> log;
};
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, account& x) {
  return f(caf::meta::type_name("account"), postbox::field("balance", x.balance),
           postbox::field("rate_bp", x.rate_bp), postbox::field("log", x.log));
}

/// Opens an account with a monthly interest rate; `month_ms` shortens the month (tests).
struct open_account {
  int64_t rate_bp = 0;
  int64_t month_ms = 0;
};
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, open_account& x) {
  return f(caf::meta::type_name("open_account"), postbox::field("rate_bp", x.rate_bp),
           postbox::field("month_ms", x.month_ms));
}

struct deposit {
  int64_t amount = 0;
};
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, deposit& x) {
  return f(caf::meta::type_name("deposit"), postbox::field("amount", x.amount));
}

struct withdraw {
  int64_t amount = 0;
};
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, withdraw& x) {
  return f(caf::meta::type_name("withdraw"), postbox::field("amount", x.amount));
}

/// A transfer's on_error, back at the source: the refused withdrawal's error.
struct transfer_refused {
  std::string error;
};
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, transfer_refused& x) {
  return f(caf::meta::type_name("transfer_refused"), postbox::field("error", x.error));
}

namespace {

using postbox::outcome;

outcome on_open(postbox::context& ctx, account& a, const open_account& o) {
  if (o.rate_bp < 0) return outcome::reject("a negative interest rate");
  a.rate_bp = o.rate_bp;
  auto month = std::chrono::milliseconds(o.month_ms > 0 ? o.month_ms : 30LL * 24 * 3600 * 1000);
  ctx.remind("interest", month, month);  // set again: the old schedule never fires
  a.log.push_back("opened");
  return {};
}

outcome on_deposit(postbox::context&, account& a, const deposit& d) {
  if (d.amount <= 0) return outcome::reject("a deposit must be positive");
  a.balance += d.amount;
  a.log.push_back("+" + std::to_string(d.amount));
  return {};
}

outcome on_withdraw(postbox::context&, account& a, const withdraw& w) {
  if (w.amount <= 0) return outcome::reject("a withdrawal must be positive");
  if (a.balance < w.amount)
    return outcome::reject("insufficient funds: balance " + std::to_string(a.balance) +
                           ", withdrawal " + std::to_string(w.amount));
  a.balance -= w.amount;
  a.log.push_back("-" + std::to_string(w.amount));
  return {};
}

outcome on_refused(postbox::context&, account& a, const transfer_refused& r) {
  a.log.push_back("refused: " + r.error);
  return {};
}

outcome on_interest(postbox::context&, account& a, const postbox::reminder& r) {
  // A month the cluster was down for arrives folded into one tick (missed).
  for (int64_t m = 0; m <= r.missed; ++m) a.balance += a.balance * a.rate_bp / 10000;
  a.log.push_back("interest x" + std::to_string(r.missed + 1));
  return {};
}

}  // namespace

int main(int argc, char** argv) {
  postbox::registry registry;
  registry.actor<account>("account", "accounts")
      .on<open_account>(on_open)
      .on<deposit>(on_deposit)
      .on<withdraw>(on_withdraw)
      .on<transfer_refused>(on_refused)
      .on_reminder(on_interest);
  return postbox::node_main(argc, argv, registry);
}

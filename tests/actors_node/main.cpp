// The keyed-actor suite's node: actor type `tally` on queue `keyed` (and `skipper`,
// whose topology says on_poison: skip). A `step` is one turn: it appends
// "sender:n" to the actor's state and records the turn (start and end in microseconds
// of the system clock, the node) in the test's table `turns`, with the ack. A step
// listed in `poison_keys` (key, n) is rejected (a poisoned head); one with
// sleep_ms sleeps first (to be frozen or killed mid-turn); one with abort set aborts
// the node process after its sleep (a head that crashes its node, on every attempt).
// A turn records its attempt (1 + the failed attempts charged to it).
// Dedup (tests/suites/dedup_test.cpp): a `forward` on queue `dedup` sends twice, with its
// dedup key, to queue `dedup_sink` (the second a duplicate) and records itself in table
// `forwarded` with its ack; a `slow` on queue `dedup_slow` sleeps, then records itself in
// `slow_done`; a `spread` on queue `dedup` fans out one child per key to `dedup_sink`
// (with that dedup key), its callback a `spread_done` on `dedup_sink`.
#include <chrono>
#include <cstdlib>
#include <postbox/postbox.hpp>
#include <string>
#include <thread>
#include <vector>

struct step {
  int64_t sender = 0;
  int64_t n = 0;
  int64_t sleep_ms = 0;
  bool abort = false;
};
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, step& x) {
  return f(caf::meta::type_name("step"), postbox::field("sender", x.sender),
           postbox::field("n", x.n), postbox::field("sleep_ms", x.sleep_ms),
           postbox::field("abort", x.abort));
}

struct tally {
  int64_t count = 0;
  int64_t sum = 0;
  std::vector<std::string> order;
};
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, tally& x) {
  return f(caf::meta::type_name("tally"), postbox::field("count", x.count),
           postbox::field("sum", x.sum), postbox::field("order", x.order));
}

struct forward {
  std::string key;
  int64_t n = 0;
};
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, forward& x) {
  return f(caf::meta::type_name("forward"), postbox::field("key", x.key), postbox::field("n", x.n));
}

struct slow {
  int64_t sleep_ms = 0;
};
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, slow& x) {
  return f(caf::meta::type_name("slow"), postbox::field("sleep_ms", x.sleep_ms));
}

struct spread {
  std::vector<std::string> keys;
};
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, spread& x) {
  return f(caf::meta::type_name("spread"), postbox::field("keys", x.keys));
}

namespace {

postbox::outcome take_spread(postbox::context& ctx, const spread& s) {
  std::vector<postbox::message_out> children;
  for (const auto& k : s.keys) {
    auto m = postbox::message_out::json("dedup_sink", "sunk", "{}");
    m.dedup_key = k;
    children.push_back(std::move(m));
  }
  ctx.fan_out(std::move(children), postbox::message_out::json("dedup_sink", "spread_done", "{}"));
  return {};
}

postbox::outcome take_forward(postbox::context& ctx, const forward& f) {
  for (int i = 0; i < 2; ++i) {
    auto m =
        postbox::message_out::json("dedup_sink", "sunk", R"({"n":)" + std::to_string(f.n) + "}");
    m.dedup_key = f.key;
    ctx.send(std::move(m));
  }
  ctx.execute("INSERT INTO forwarded (message_id, n) VALUES ($1::bigint, $2::bigint)",
              {std::to_string(ctx.message_id()), std::to_string(f.n)});
  return {};
}

postbox::outcome take_slow(postbox::context& ctx, const slow& s) {
  std::this_thread::sleep_for(std::chrono::milliseconds(s.sleep_ms));
  ctx.execute("INSERT INTO slow_done (message_id) VALUES ($1::bigint)",
              {std::to_string(ctx.message_id())});
  return {};
}

int64_t now_us() {
  return std::chrono::duration_cast<std::chrono::microseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

postbox::outcome take_step(postbox::context& ctx, tally& state, const step& s) {
  const auto started = now_us();
  auto poisoned = ctx.query("SELECT 1 FROM poison_keys WHERE actor_key = $1 AND n = $2::bigint",
                            {ctx.actor_key(), std::to_string(s.n)});
  if (!poisoned) return postbox::outcome::from(poisoned.error());
  if (!poisoned->empty())
    return postbox::outcome::reject("key " + ctx.actor_key() + " is poisoned");
  if (s.sleep_ms > 0) std::this_thread::sleep_for(std::chrono::milliseconds(s.sleep_ms));
  if (s.abort) std::abort();
  const auto item = std::to_string(s.sender) + ":" + std::to_string(s.n);
  state.count += 1;
  state.sum += s.n;
  state.order.push_back(item);
  ctx.execute(
      "INSERT INTO turns (actor_type, actor_key, item, message_id, started_us, ended_us, owner, "
      "attempt) VALUES ($1, $2, $3, $4::bigint, $5::bigint, $6::bigint, $7, $8::int)",
      {ctx.actor_type(), ctx.actor_key(), item, std::to_string(ctx.message_id()),
       std::to_string(started), std::to_string(now_us()), ctx.owner(),
       std::to_string(ctx.attempt())});
  return {};
}

}  // namespace

int main(int argc, char** argv) {
  postbox::registry registry;
  registry.actor<tally>("tally", "keyed").on<step>(take_step);
  registry.actor<tally>("skipper", "keyed_skip").on<step>(take_step);
  registry.on<forward>("dedup", take_forward)
      .on<spread>("dedup", take_spread)
      .on<slow>("dedup_slow", take_slow);
  return postbox::node_main(argc, argv, registry);
}

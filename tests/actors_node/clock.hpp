// The reminders suite's actor type `clock` on queue `timed` (tests/suites/reminders_test):
// `arm` sets a reminder (due in due_in_ms, or at at_ms epoch ms; period_ms; all: missed
// ticks each), then sleeps sleep_ms; `disarm` sleeps sleep_ms, then cancels one (or, with
// rearm, sets it again for an hour later); `ping` keeps a count in the state when `keep`
// (else the state stays at its default: none); `later` sends a ping to clock/`to` after
// delay_ms. Each tick is recorded, with its ack, in the test's table `ticks`. A `stray`
// (no actor) on queue `timed` calls ctx.remind outside a turn.
#pragma once

#include <chrono>
#include <postbox/postbox.hpp>
#include <string>
#include <thread>

struct arm {
  std::string name;
  int64_t due_in_ms = 0;
  int64_t at_ms = 0;
  int64_t period_ms = 0;
  bool all = false;
  int64_t sleep_ms = 0;
};
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, arm& x) {
  return f(caf::meta::type_name("arm"), postbox::field("name", x.name),
           postbox::field("due_in_ms", x.due_in_ms), postbox::field("at_ms", x.at_ms),
           postbox::field("period_ms", x.period_ms), postbox::field("all", x.all),
           postbox::field("sleep_ms", x.sleep_ms));
}

struct disarm {
  std::string name;
  int64_t sleep_ms = 0;
  bool rearm = false;
};
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, disarm& x) {
  return f(caf::meta::type_name("disarm"), postbox::field("name", x.name),
           postbox::field("sleep_ms", x.sleep_ms), postbox::field("rearm", x.rearm));
}

struct ping {
  bool keep = false;
};
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, ping& x) {
  return f(caf::meta::type_name("ping"), postbox::field("keep", x.keep));
}

struct later {
  std::string to;
  int64_t delay_ms = 0;
};
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, later& x) {
  return f(caf::meta::type_name("later"), postbox::field("to", x.to),
           postbox::field("delay_ms", x.delay_ms));
}

struct stray {
  std::string name;
};
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, stray& x) {
  return f(caf::meta::type_name("stray"), postbox::field("name", x.name));
}

struct clock_state {
  int64_t pings = 0;
};
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, clock_state& x) {
  return f(caf::meta::type_name("clock_state"), postbox::field("pings", x.pings));
}

inline void register_clock(postbox::registry& registry) {
  using std::chrono::milliseconds;
  registry.actor<clock_state>("clock", "timed")
      .on<arm>([](postbox::context& ctx, clock_state&, const arm& a) -> postbox::outcome {
        const auto missed = a.all ? postbox::missed_ticks::all : postbox::missed_ticks::once;
        if (a.at_ms > 0)
          ctx.remind(a.name, std::chrono::system_clock::time_point(milliseconds(a.at_ms)),
                     milliseconds(a.period_ms), missed);
        else
          ctx.remind(a.name, milliseconds(a.due_in_ms), milliseconds(a.period_ms), missed);
        if (a.sleep_ms > 0) std::this_thread::sleep_for(milliseconds(a.sleep_ms));
        return {};
      })
      .on<disarm>([](postbox::context& ctx, clock_state&, const disarm& d) -> postbox::outcome {
        if (d.sleep_ms > 0) std::this_thread::sleep_for(milliseconds(d.sleep_ms));
        if (d.rearm)
          ctx.remind(d.name, std::chrono::hours(1));
        else
          ctx.cancel_reminder(d.name);
        return {};
      })
      .on<ping>([](postbox::context& ctx, clock_state& s, const ping& p) -> postbox::outcome {
        if (p.keep) s.pings += 1;
        ctx.execute("INSERT INTO pings (actor_key, message_id) VALUES ($1, $2::bigint)",
                    {ctx.actor_key(), std::to_string(ctx.message_id())});
        return {};
      })
      .on<later>([](postbox::context& ctx, clock_state&, const later& l) -> postbox::outcome {
        ctx.send_after(milliseconds(l.delay_ms), postbox::actor("clock", l.to), ping{});
        return {};
      })
      .on_reminder(
          [](postbox::context& ctx, clock_state&, const postbox::reminder& r) -> postbox::outcome {
            ctx.execute(
                "INSERT INTO ticks (actor_key, name, due, due_ms, missed, generation, message_id, "
                "owner) VALUES ($1, $2, $3, $4::bigint, $5::bigint, $6::bigint, $7::bigint, $8)",
                {ctx.actor_key(), r.name, r.due, std::to_string(r.due_ms), std::to_string(r.missed),
                 std::to_string(r.generation), std::to_string(ctx.message_id()), ctx.owner()});
            return {};
          });
  registry.on<stray>("timed", [](postbox::context& ctx, const stray& s) -> postbox::outcome {
    ctx.remind(s.name, std::chrono::seconds(1));
    return {};
  });
}

// The missed-tick and overlap policies of schedules (docs/topology.md "Schedules").
#include "config/schedule_plan.hpp"

#include "config/cron.hpp"
#include "postbox/error.hpp"

namespace postbox {

namespace {

cron_instant to_instant(int64_t ms) {
  // Cron instants are whole seconds; a tick at ms precision rounds down.
  return cron_instant{std::chrono::seconds{ms >= 0 ? ms / 1000 : (ms - 999) / 1000}};
}

int64_t to_ms(cron_instant t) {
  return static_cast<int64_t>(t.time_since_epoch().count()) * 1000;
}

// More due ticks than this are counted, not listed.
constexpr size_t max_enumerated = 200000;

}  // namespace

schedule_plan plan_schedule(const schedule_due& due) {
  schedule_plan plan;
  auto cron = parse_cron(due.cron);
  if (!cron) {
    plan.error = describe(cron.error());
    return plan;
  }
  auto next_after = [&](int64_t ms) -> std::optional<int64_t> {
    auto n = next_fire(*cron, due.timezone, to_instant(ms));
    if (!n) {
      plan.error = describe(n.error());
      return std::nullopt;
    }
    return to_ms(*n);
  };
  if (!due.next_tick) {  // first sight: the first tick after now, nothing sent
    auto n = next_after(due.now);
    if (n) plan.next_tick = *n;
    return plan;
  }
  // The due ticks T1 < ... < Tk <= now.
  std::vector<int64_t> ticks;
  std::optional<int64_t> t = *due.next_tick;
  for (; t && *t <= due.now && ticks.size() < max_enumerated; t = next_after(*t))
    ticks.push_back(*t);
  if (!plan.error.empty()) return plan;
  if (ticks.empty()) {  // not due after all (the clock moved back): keep the tick
    plan.next_tick = *due.next_tick;
    return plan;
  }
  if (t && *t <= due.now) {
    // A very long outage: this chunk is skipped as a whole; the next firing goes on.
    plan.ticks.push_back(
        {ticks.back(), "skipped_missed", static_cast<int32_t>(ticks.size()), false});
    plan.skipped = plan.missed = static_cast<int64_t>(ticks.size());
    plan.last_tick = ticks.back();
    plan.next_tick = *t;
    return plan;
  }
  const auto k = static_cast<int64_t>(ticks.size());
  bool live = due.previous_live;
  auto send = [&](int64_t tick, int32_t missed, bool backfilled) {
    if (due.overlap == "skip" && live) {
      plan.ticks.push_back({tick, "skipped_overlap", missed, backfilled});
      plan.skipped += 1;
      return;
    }
    plan.ticks.push_back({tick, "sent", missed, backfilled});
    plan.sent += 1;
    live = true;
  };
  auto skip = [&](int64_t tick, int64_t n) {
    plan.ticks.push_back({tick, "skipped_missed", static_cast<int32_t>(n), false});
    plan.skipped += n;
    plan.missed += n;
  };
  const int64_t last = ticks.back();
  size_t processed = ticks.size();
  if (due.on_missed == "once") {
    plan.missed = k - 1;
    send(last, static_cast<int32_t>(k - 1), false);
  } else if (due.on_missed == "skip") {
    if (due.now - last <= schedule_late_grace_ms) {
      if (k > 1) skip(ticks[ticks.size() - 2], k - 1);
      send(last, 0, false);
    } else {
      skip(last, k);
    }
  } else {  // all: each within the window, in order; older ones skipped as one
    size_t first = 0;
    while (first < ticks.size() && due.now - ticks[first] > due.catch_up_window) ++first;
    if (first > 0) skip(ticks[first - 1], static_cast<int64_t>(first));
    processed = std::min(ticks.size(), first + schedule_max_ticks_per_firing);
    for (size_t i = first; i < processed; ++i)
      send(ticks[i], 0, i + 1 < ticks.size());  // backfilled: a later tick was due too
  }
  plan.last_tick = ticks[processed - 1];
  if (processed < ticks.size()) {
    plan.next_tick = ticks[processed];  // due again at once
  } else if (auto n = next_after(last)) {
    plan.next_tick = *n;
  }
  return plan;
}

}  // namespace postbox

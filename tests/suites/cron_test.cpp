// Cron expressions: parsing (and its errors), and fire instants in IANA zones across the
// DST changes of Europe/Berlin and America/New_York by the documented rules.
#define CAF_SUITE cron
#include "config/cron.hpp"

#include <date/date.h>
#include <date/tz.h>

#include <caf/test/unit_test.hpp>
#include <string>
#include <vector>

#include "config/schedule_plan.hpp"
#include "postbox/error.hpp"

using namespace postbox;
using namespace std::chrono_literals;

namespace {

cron_instant utc(int y, unsigned m, unsigned d, int hh, int mm, int ss = 0) {
  return cron_instant{date::sys_days{date::year{y} / m / d}} + std::chrono::hours{hh} +
         std::chrono::minutes{mm} + std::chrono::seconds{ss};
}

std::string iso(cron_instant t) {
  return date::format("%FT%TZ", t);
}

// Every fire instant of `cron` in `zone` in [from, to), as UTC text.
std::vector<std::string> fires(const std::string& cron, const std::string& zone, cron_instant from,
                               cron_instant to) {
  auto c = parse_cron(cron);
  CAF_REQUIRE(c);
  std::vector<std::string> out;
  auto t = from - 1s;
  for (;;) {
    auto n = next_fire(*c, zone, t);
    CAF_REQUIRE(n);
    if (*n >= to) break;
    out.push_back(iso(*n));
    t = *n;
  }
  return out;
}

std::string error_of(const std::string& cron) {
  auto c = parse_cron(cron);
  if (c) return "";
  CAF_CHECK(is(c.error(), errc::invalid_argument));
  return describe(c.error());
}

}  // namespace

CAF_TEST(fields lists ranges steps names and macros) {
  auto c = parse_cron("*/15 9-17 * JAN,mar MON-FRI");
  CAF_REQUIRE(c);
  CAF_CHECK(c->seconds[0] && !c->seconds[1]);
  CAF_CHECK(c->minutes[0] && c->minutes[15] && c->minutes[45] && !c->minutes[14]);
  CAF_CHECK(c->hours[9] && c->hours[17] && !c->hours[8] && !c->hours[18]);
  CAF_CHECK(c->months[1] && c->months[3] && !c->months[2]);
  CAF_CHECK(c->weekdays[1] && c->weekdays[5] && !c->weekdays[0] && !c->weekdays[6]);
  CAF_CHECK(!c->every_hour);
  auto s = parse_cron("* * * * * *");
  CAF_REQUIRE(s);
  CAF_CHECK_EQUAL(s->seconds.count(), 60u);
  CAF_CHECK(s->every_hour);
  auto sunday = parse_cron("0 0 * * 7");
  CAF_REQUIRE(sunday);
  CAF_CHECK(sunday->weekdays[0]);
  CAF_CHECK(parse_cron("@daily"));
  CAF_CHECK(parse_cron("5/20 */2 1 * *"));
}

CAF_TEST(bad expressions name the field) {
  CAF_CHECK_NOT_EQUAL(error_of("* * * *").find("needs 5 fields"), std::string::npos);
  CAF_CHECK_NOT_EQUAL(error_of("61 * * * *").find("minute field '61'"), std::string::npos);
  CAF_CHECK_NOT_EQUAL(error_of("0 24 * * *").find("hour field"), std::string::npos);
  CAF_CHECK_NOT_EQUAL(error_of("0 0 0 * *").find("day of month"), std::string::npos);
  CAF_CHECK_NOT_EQUAL(error_of("0 0 * FOO *").find("month field"), std::string::npos);
  CAF_CHECK_NOT_EQUAL(error_of("*/0 * * * *").find("step of 0"), std::string::npos);
  CAF_CHECK_NOT_EQUAL(error_of("5-1 * * * *").find("backwards"), std::string::npos);
  CAF_CHECK_NOT_EQUAL(error_of("1,,2 * * * *"), "");
  CAF_CHECK_NOT_EQUAL(error_of("a b c d e"), "");
  CAF_CHECK(!check_time_zone("Europe/Berlin"));
  CAF_CHECK(!check_time_zone("UTC"));
  auto err = check_time_zone("Europe/Atlantis");
  CAF_REQUIRE(err);
  CAF_CHECK_NOT_EQUAL(describe(err).find("unknown time zone 'Europe/Atlantis'"), std::string::npos);
}

CAF_TEST(plain zone and day rules) {
  auto c = parse_cron("0 3 * * *");
  CAF_REQUIRE(c);
  auto n = next_fire(*c, "UTC", utc(2026, 1, 1, 3, 0));
  CAF_REQUIRE(n);
  CAF_CHECK_EQUAL(iso(*n), "2026-01-02T03:00:00Z");
  // Both day fields restricted: either matches (the 13th, or a Friday).
  CAF_CHECK_EQUAL(fires("0 0 13 * 5", "UTC", utc(2026, 2, 1, 0, 0), utc(2026, 2, 15, 0, 0)),
                  (std::vector<std::string>{"2026-02-06T00:00:00Z", "2026-02-13T00:00:00Z"}));
  // Never fires (30 February): an error, not a hang.
  auto never = parse_cron("0 0 30 2 *");
  CAF_REQUIRE(never);
  auto none = next_fire(*never, "UTC", utc(2026, 1, 1, 0, 0));
  CAF_CHECK(!none && is(none.error(), errc::not_found));
  auto bad_zone = next_fire(*c, "Mars/Olympus", utc(2026, 1, 1, 0, 0));
  CAF_CHECK(!bad_zone && is(bad_zone.error(), errc::invalid_argument));
}

// Europe/Berlin 2026: spring forward 29 March 02:00 CET -> 03:00 CEST (01:00Z);
// fall back 25 October 03:00 CEST -> 02:00 CET (01:00Z).
CAF_TEST(europe berlin across dst) {
  const std::string z = "Europe/Berlin";
  // 02:30 does not exist on 29 March: once, at the first instant after the gap (03:00 CEST).
  CAF_CHECK_EQUAL(fires("30 2 * * *", z, utc(2026, 3, 28, 0, 0), utc(2026, 3, 31, 0, 0)),
                  (std::vector<std::string>{"2026-03-28T01:30:00Z", "2026-03-29T01:00:00Z",
                                            "2026-03-30T00:30:00Z"}));
  // 02:30 happens twice on 25 October: once, at its first occurrence (CEST).
  CAF_CHECK_EQUAL(fires("30 2 * * *", z, utc(2026, 10, 24, 0, 0), utc(2026, 10, 27, 0, 0)),
                  (std::vector<std::string>{"2026-10-24T00:30:00Z", "2026-10-25T00:30:00Z",
                                            "2026-10-26T01:30:00Z"}));
  // Hourly: 23 runs on the short day, 25 on the long day (each real hour).
  CAF_CHECK_EQUAL(fires("0 * * * *", z, utc(2026, 3, 28, 23, 0), utc(2026, 3, 29, 22, 0)).size(),
                  23u);
  CAF_CHECK_EQUAL(fires("0 * * * *", z, utc(2026, 10, 24, 22, 0), utc(2026, 10, 25, 23, 0)).size(),
                  25u);
  // A step in the hour field is "each real hour" too.
  CAF_CHECK_EQUAL(
      fires("15 */1 * * *", z, utc(2026, 10, 24, 22, 0), utc(2026, 10, 25, 23, 0)).size(), 25u);
}

// America/New_York 2026: spring forward 8 March 02:00 EST -> 03:00 EDT (07:00Z);
// fall back 1 November 02:00 EDT -> 01:00 EST (06:00Z).
CAF_TEST(america new york across dst) {
  const std::string z = "America/New_York";
  CAF_CHECK_EQUAL(fires("30 2 * * *", z, utc(2026, 3, 7, 12, 0), utc(2026, 3, 9, 12, 0)),
                  (std::vector<std::string>{"2026-03-08T07:00:00Z", "2026-03-09T06:30:00Z"}));
  CAF_CHECK_EQUAL(fires("30 1 * * *", z, utc(2026, 10, 31, 12, 0), utc(2026, 11, 2, 12, 0)),
                  (std::vector<std::string>{"2026-11-01T05:30:00Z", "2026-11-02T06:30:00Z"}));
  CAF_CHECK_EQUAL(fires("0 * * * *", z, utc(2026, 3, 8, 5, 0), utc(2026, 3, 9, 4, 0)).size(), 23u);
  CAF_CHECK_EQUAL(fires("0 * * * *", z, utc(2026, 11, 1, 4, 0), utc(2026, 11, 2, 5, 0)).size(),
                  25u);
  // Every 20 minutes inside the gap: the three skipped times fire once, at 03:00 EDT.
  CAF_CHECK_EQUAL(fires("*/20 2 * * *", z, utc(2026, 3, 8, 0, 0), utc(2026, 3, 8, 12, 0)),
                  (std::vector<std::string>{"2026-03-08T07:00:00Z"}));
  // Seconds: every second is every second, across the fall-back hour too.
  CAF_CHECK_EQUAL(
      fires("* * * * * *", z, utc(2026, 11, 1, 5, 59, 58), utc(2026, 11, 1, 6, 0, 2)).size(), 4u);
}

// The missed-tick and overlap policies of one firing (config/schedule_plan.cpp).
CAF_TEST(plan of a firing by on_missed and overlap) {
  const int64_t t0 = 1790000000000;  // a whole second
  schedule_due due;
  due.name = "s";
  due.cron = "* * * * * *";
  due.timezone = "UTC";
  // First sight: the next tick after now, nothing sent.
  due.now = t0 + 400;
  auto first = plan_schedule(due);
  CAF_CHECK(first.ticks.empty());
  CAF_CHECK_EQUAL(first.next_tick, t0 + 1000);
  // On time: one tick sent, the next one after it.
  due.next_tick = t0 + 1000;
  due.now = t0 + 1200;
  auto on_time = plan_schedule(due);
  CAF_REQUIRE_EQUAL(on_time.ticks.size(), 1u);
  CAF_CHECK_EQUAL(on_time.ticks[0].outcome, "sent");
  CAF_CHECK_EQUAL(on_time.ticks[0].missed, 0);
  CAF_CHECK_EQUAL(on_time.next_tick, t0 + 2000);
  // Ten ticks due (t0+1s .. t0+10s).
  due.now = t0 + 10500;
  due.on_missed = "once";
  auto once = plan_schedule(due);
  CAF_REQUIRE_EQUAL(once.ticks.size(), 1u);
  CAF_CHECK_EQUAL(once.ticks[0].tick, t0 + 10000);
  CAF_CHECK_EQUAL(once.ticks[0].missed, 9);
  CAF_CHECK_EQUAL(once.next_tick, t0 + 11000);
  due.on_missed = "skip";
  auto skip = plan_schedule(due);
  CAF_REQUIRE_EQUAL(skip.ticks.size(), 2u);
  CAF_CHECK_EQUAL(skip.ticks[0].outcome, "skipped_missed");
  CAF_CHECK_EQUAL(skip.ticks[0].missed, 9);
  CAF_CHECK_EQUAL(skip.ticks[1].outcome, "sent");  // the latest is on time
  due.on_missed = "all";
  due.catch_up_window = 5000;  // only t0+6s .. t0+10s are within it
  auto all = plan_schedule(due);
  CAF_REQUIRE_EQUAL(all.ticks.size(), 6u);
  CAF_CHECK_EQUAL(all.ticks[0].outcome, "skipped_missed");
  CAF_CHECK_EQUAL(all.ticks[0].missed, 5);
  CAF_CHECK_EQUAL(all.ticks[1].tick, t0 + 6000);
  CAF_CHECK(all.ticks[1].backfilled && !all.ticks[5].backfilled);
  CAF_CHECK_EQUAL(all.sent, 5);
  // overlap skip while the last message is live: recorded, not sent.
  due.on_missed = "once";
  due.overlap = "skip";
  due.previous_live = true;
  auto overlap = plan_schedule(due);
  CAF_REQUIRE_EQUAL(overlap.ticks.size(), 1u);
  CAF_CHECK_EQUAL(overlap.ticks[0].outcome, "skipped_overlap");
  CAF_CHECK_EQUAL(overlap.sent, 0);
  // A skip-policy tick more than the grace late is skipped too.
  due.overlap = "allow";
  due.previous_live = false;
  due.on_missed = "skip";
  due.cron = "@yearly";
  due.next_tick = int64_t{1798761600000};  // 2027-01-01T00:00:00Z
  due.now = *due.next_tick + schedule_late_grace_ms + 1;
  auto late = plan_schedule(due);
  CAF_CHECK_EQUAL(late.sent, 0);
  CAF_CHECK_EQUAL(late.ticks.back().outcome, "skipped_missed");
  // A cron a node cannot parse: an error, nothing planned.
  due.cron = "61 * * * *";
  auto bad = plan_schedule(due);
  CAF_CHECK(!bad.error.empty());
  CAF_CHECK(bad.ticks.empty());
}

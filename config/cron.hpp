// Cron expressions of schedules (5 fields, or 6 with seconds first) and their fire
// times in the wall time of an IANA zone, with the DST rules of docs/topology.md.
#pragma once

#include <bitset>
#include <caf/expected.hpp>
#include <chrono>
#include <string>

namespace postbox {

/// A parsed cron expression: `[sec] min hour day-of-month month day-of-week`, each field
/// `*`, `N`, `N-M`, lists `a,b`, steps `*/S`, `N-M/S`, `N/S`; month and weekday names
/// (JAN, MON); weekday 0 and 7 are Sunday; and the macros @yearly @annually @monthly
/// @weekly @daily @midnight @hourly. When both day fields are restricted, a day matches
/// either (Vixie cron).
struct cron_expression {
  std::string text;
  std::bitset<60> seconds;
  std::bitset<60> minutes;
  std::bitset<24> hours;
  std::bitset<32> days;     // 1..31
  std::bitset<13> months;   // 1..12
  std::bitset<7> weekdays;  // 0 = Sunday
  bool days_restricted = false;
  bool weekdays_restricted = false;
  /// The hour field is `*` or a step: a repeated local hour (fall back) fires twice.
  bool every_hour = false;
};

/// Parses `text`; errc::invalid_argument naming the bad field otherwise.
caf::expected<cron_expression> parse_cron(const std::string& text);

/// errc::invalid_argument when `zone` is not an IANA time zone of the system's tzdata.
caf::error check_time_zone(const std::string& zone);

using cron_instant = std::chrono::time_point<std::chrono::system_clock, std::chrono::seconds>;

/// The first fire instant of `cron` in `zone` strictly after `after`, by these rules:
/// a local time that exists once fires then; one skipped by a spring-forward gap fires
/// once, at the first instant after the gap; one repeated at fall-back fires at its
/// first occurrence only, unless the hour field is `*` or a step (then each real hour
/// fires). errc::not_found when none within ~8 years (e.g. `0 0 30 2 *`),
/// errc::invalid_argument for an unknown zone.
caf::expected<cron_instant> next_fire(const cron_expression& cron, const std::string& zone,
                                      cron_instant after);

}  // namespace postbox

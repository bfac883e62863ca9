// Parses cron expressions and finds their next fire instant in a time zone (Howard
// Hinnant's date/tz over the system's tzdata: the C++20 <chrono> zones are not in GCC 12).
#include "config/cron.hpp"

#include <date/tz.h>

#include <algorithm>
#include <cctype>
#include <optional>
#include <sstream>
#include <vector>

#include "postbox/error.hpp"

namespace postbox {

namespace {

struct field_spec {
  const char* name;
  int min;
  int max;
  const char* const* names;  // names[i] stands for min + i, or nullptr
};

const char* const month_names[] = {"JAN", "FEB", "MAR", "APR", "MAY", "JUN",
                                   "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"};
const char* const weekday_names[] = {"SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"};

const field_spec second_spec{"second", 0, 59, nullptr};
const field_spec minute_spec{"minute", 0, 59, nullptr};
const field_spec hour_spec{"hour", 0, 23, nullptr};
const field_spec day_spec{"day of month", 1, 31, nullptr};
const field_spec month_spec{"month", 1, 12, month_names};
const field_spec weekday_spec{"day of week", 0, 7, weekday_names};

caf::error bad(const std::string& text, const std::string& why) {
  return make_error(errc::invalid_argument, "cron '" + text + "': " + why);
}

std::optional<int> parse_value(const std::string& s, const field_spec& f) {
  if (s.empty()) return std::nullopt;
  if (std::all_of(s.begin(), s.end(), [](unsigned char c) { return std::isdigit(c); })) {
    if (s.size() > 3) return std::nullopt;
    return std::stoi(s);
  }
  if (f.names == nullptr) return std::nullopt;
  std::string upper;
  for (unsigned char c : s) upper += static_cast<char>(std::toupper(c));
  for (int i = 0; i <= f.max - f.min; ++i)
    if (i < (f.names == month_names ? 12 : 7) && upper == f.names[i]) return f.min + i;
  return std::nullopt;
}

// Sets the bits of one field (values min..max); an error names the field.
caf::error parse_field(const std::string& text, const std::string& field, const field_spec& f,
                       std::vector<bool>& bits) {
  bits.assign(f.max + 1, false);
  auto fail = [&](const std::string& why) {
    return bad(text, std::string(f.name) + " field '" + field + "' " + why);
  };
  std::stringstream items(field);
  std::string item;
  bool any = false;
  while (std::getline(items, item, ',')) {
    any = true;
    int step = 1;
    auto slash = item.find('/');
    std::string range = item.substr(0, slash);
    if (slash != std::string::npos) {
      auto s = item.substr(slash + 1);
      if (s.empty() || s.size() > 3 ||
          !std::all_of(s.begin(), s.end(), [](unsigned char c) { return std::isdigit(c); }))
        return fail("has a bad step");
      step = std::stoi(s);
      if (step < 1) return fail("has a step of 0");
    }
    int lo = f.min;
    int hi = f.max == 7 ? 6 : f.max;
    if (range != "*") {
      auto dash = range.find('-');
      auto a = parse_value(range.substr(0, dash), f);
      if (!a) return fail("has a bad value '" + range.substr(0, dash) + "'");
      lo = *a;
      if (dash != std::string::npos) {
        auto b = parse_value(range.substr(dash + 1), f);
        if (!b) return fail("has a bad value '" + range.substr(dash + 1) + "'");
        hi = *b;
      } else {
        hi = slash == std::string::npos ? lo : (f.max == 7 ? 6 : f.max);
      }
      if (lo < f.min || hi > f.max || lo > f.max)
        return fail("is out of range " + std::to_string(f.min) + "-" + std::to_string(f.max));
      if (lo > hi) return fail("has a range that runs backwards");
    }
    for (int v = lo; v <= hi; v += step) bits[v] = true;
  }
  if (!any || field.back() == ',') return fail("is empty");
  return {};
}

template <size_t N>
void copy_bits(const std::vector<bool>& from, std::bitset<N>& to) {
  for (size_t i = 0; i < N && i < from.size(); ++i) to[i] = from[i];
}

std::string expand_macro(const std::string& s) {
  if (s == "@yearly" || s == "@annually") return "0 0 1 1 *";
  if (s == "@monthly") return "0 0 1 * *";
  if (s == "@weekly") return "0 0 * * 0";
  if (s == "@daily" || s == "@midnight") return "0 0 * * *";
  if (s == "@hourly") return "0 * * * *";
  return s;
}

using date::local_seconds;

bool day_matches(const cron_expression& c, date::local_days ld) {
  date::year_month_day ymd{ld};
  bool dom = c.days[static_cast<unsigned>(ymd.day())];
  bool dow = c.weekdays[date::weekday{ld}.c_encoding()];
  if (c.days_restricted && c.weekdays_restricted) return dom || dow;
  return dom && dow;
}

// The first local time >= from and < limit that the fields match.
std::optional<local_seconds> next_match(const cron_expression& c, local_seconds from,
                                        local_seconds limit) {
  using namespace std::chrono;
  auto t = from;
  while (t < limit) {
    auto ld = date::floor<date::days>(t);
    date::year_month_day ymd{ld};
    if (!c.months[static_cast<unsigned>(ymd.month())]) {
      auto ym = ymd.year() / ymd.month() + date::months{1};
      t = local_seconds{date::local_days{ym / 1}};
      continue;
    }
    if (!day_matches(c, ld)) {
      t = local_seconds{ld + date::days{1}};
      continue;
    }
    auto s = (t - local_seconds{ld}).count();
    auto h = s / 3600, m = s / 60 % 60, sec = s % 60;
    if (!c.hours[h]) {
      t = local_seconds{ld} + hours{h + 1};
      continue;
    }
    if (!c.minutes[m]) {
      t = local_seconds{ld} + hours{h} + minutes{m + 1};
      continue;
    }
    if (!c.seconds[sec]) {
      t += seconds{1};
      continue;
    }
    return t;
  }
  return std::nullopt;
}

}  // namespace

caf::expected<cron_expression> parse_cron(const std::string& raw) {
  std::string text = expand_macro(raw);
  std::stringstream in(text);
  std::vector<std::string> fields;
  for (std::string f; in >> f;) fields.push_back(f);
  if (fields.size() != 5 && fields.size() != 6)
    return bad(raw,
               "needs 5 fields (minute hour day-of-month month day-of-week) or 6 "
               "(second first), has " +
                   std::to_string(fields.size()));
  cron_expression c;
  c.text = raw;
  if (fields.size() == 5) fields.insert(fields.begin(), "0");
  const field_spec* specs[] = {&second_spec, &minute_spec, &hour_spec,
                               &day_spec,    &month_spec,  &weekday_spec};
  std::vector<bool> bits[6];
  for (int i = 0; i < 6; ++i)
    if (auto err = parse_field(raw, fields[i], *specs[i], bits[i])) return err;
  if (bits[5].size() > 7 && bits[5][7]) bits[5][0] = true;  // 7 is Sunday too
  copy_bits(bits[0], c.seconds);
  copy_bits(bits[1], c.minutes);
  copy_bits(bits[2], c.hours);
  copy_bits(bits[3], c.days);
  copy_bits(bits[4], c.months);
  copy_bits(bits[5], c.weekdays);
  c.days_restricted = fields[3][0] != '*';
  c.weekdays_restricted = fields[5][0] != '*';
  c.every_hour = fields[2] == "*" || fields[2].find('/') != std::string::npos;
  return c;
}

caf::error check_time_zone(const std::string& zone) {
  try {
    if (date::locate_zone(zone) != nullptr) return {};
  } catch (const std::exception&) {
  }
  return make_error(errc::invalid_argument,
                    "unknown time zone '" + zone + "' (an IANA name such as Europe/Berlin or UTC)");
}

caf::expected<cron_instant> next_fire(const cron_expression& cron, const std::string& zone,
                                      cron_instant after) {
  using namespace std::chrono;
  const date::time_zone* tz = nullptr;
  try {
    tz = date::locate_zone(zone);
  } catch (const std::exception&) {
  }
  if (tz == nullptr) return check_time_zone(zone);
  try {
    const cron_instant horizon = after + date::days{366 * 8};
    cron_instant cur = after + seconds{1};
    while (cur < horizon) {
      auto info = tz->get_info(cur);
      const seconds offset = info.offset;
      const auto prev = tz->get_info(info.begin - seconds{1});
      const cron_instant begin = date::floor<seconds>(info.begin);
      const cron_instant end = std::min<cron_instant>(date::floor<seconds>(info.end), horizon);
      // Spring forward just before `cur`: the local times the gap skipped fire once, now.
      if (cur == begin && prev.offset < offset) {
        local_seconds gap_from{(begin + prev.offset).time_since_epoch()};
        local_seconds gap_to{(begin + offset).time_since_epoch()};
        if (next_match(cron, gap_from, gap_to)) return begin;
      }
      local_seconds from{(cur + offset).time_since_epoch()};
      const local_seconds limit{(end + offset).time_since_epoch()};
      // Fall back: local times before this bound already occurred in the previous period.
      const local_seconds repeated_until{(begin + prev.offset).time_since_epoch()};
      while (auto m = next_match(cron, from, limit)) {
        if (!cron.every_hour && prev.offset > offset && *m < repeated_until) {
          from = *m + seconds{1};
          continue;
        }
        return cron_instant{m->time_since_epoch() - offset};
      }
      cur = end;
    }
  } catch (const std::exception& e) {
    return make_error(errc::invalid_argument, std::string("time zone '" + zone + "': ") + e.what());
  }
  return make_error(errc::not_found, "cron '" + cron.text + "' never fires within 8 years");
}

}  // namespace postbox

// Repairs JSON text for jsonb: U+0000 and invalid UTF-8 cannot be stored.
#include "messages/storable_json.hpp"

#include <boost/json.hpp>
#include <cmath>

#include "messages/utf8.hpp"

namespace postbox {

namespace {

constexpr std::string_view replacement = "\xEF\xBF\xBD";  // U+FFFD

void repair(boost::json::value& v) {
  if (auto* d = v.if_double()) {
    if (!std::isfinite(*d)) v = nullptr;  // jsonb has no Infinity or NaN
  } else if (auto* s = v.if_string()) {
    if (std::string_view(*s).find('\0') != std::string_view::npos)
      *s = storable_text(std::string_view(*s));
  } else if (auto* a = v.if_array()) {
    for (auto& e : *a) repair(e);
  } else if (auto* o = v.if_object()) {
    bool bad_key = false;
    for (auto& kv : *o) {
      repair(kv.value());
      bad_key = bad_key || kv.key().find('\0') != std::string_view::npos;
    }
    if (bad_key) {
      boost::json::object fixed;
      for (auto& kv : *o) fixed[storable_text(kv.key())] = std::move(kv.value());
      *o = std::move(fixed);
    }
  }
}

}  // namespace

std::string storable_text(std::string_view text) {
  std::string s = utf8_sanitize(text);
  std::string out;
  out.reserve(s.size());
  for (char c : s) {
    if (c == '\0')
      out += replacement;
    else
      out += c;
  }
  return out;
}

std::string storable_json(std::string_view text) {
  // Invalid bytes never touch JSON's ASCII structure, so repairing them first keeps
  // a valid document valid.
  std::string clean = utf8_sanitize(text);
  boost::json::error_code ec;
  boost::json::parse_options deep;
  deep.max_depth = 1000;
  auto v = boost::json::parse(clean, ec, {}, deep);
  if (ec) return boost::json::serialize(boost::json::value(storable_text(clean)));
  repair(v);
  return boost::json::serialize(v);
}

}  // namespace postbox

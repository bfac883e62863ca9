// The Prometheus text writer: escaping and number formatting in one place.
#include "actors/runtime/prometheus_text.hpp"

#include <cmath>
#include <cstdio>

namespace postbox::prom {

std::string escape_label_value(const std::string& s) {
  std::string out;
  out.reserve(s.size());
  for (char c : s) {
    switch (c) {
      case '\\':
        out += "\\\\";
        break;
      case '"':
        out += "\\\"";
        break;
      case '\n':
        out += "\\n";
        break;
      default:
        out += c;
    }
  }
  return out;
}

std::string format_value(double v) {
  if (std::isnan(v)) return "NaN";
  if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
  char buf[64];
  if (std::fabs(v) < 9007199254740992.0 && v == std::floor(v))
    std::snprintf(buf, sizeof buf, "%.0f", v);
  else
    std::snprintf(buf, sizeof buf, "%.15g", v);
  return buf;
}

namespace {

// HELP text escapes only \ and newline.
std::string escape_help(const std::string& s) {
  std::string out;
  for (char c : s) {
    if (c == '\\')
      out += "\\\\";
    else if (c == '\n')
      out += "\\n";
    else
      out += c;
  }
  return out;
}

}  // namespace

void writer::family(const std::string& name, const char* type, const std::string& help) {
  out_ << "# HELP " << name << ' ' << escape_help(help) << "\n# TYPE " << name << ' ' << type
       << '\n';
}

void writer::sample(const std::string& name, const labels& ls, double value) {
  out_ << name;
  if (!ls.empty()) {
    out_ << '{';
    bool first = true;
    for (const auto& [k, v] : ls) {
      if (!first) out_ << ',';
      first = false;
      out_ << k << "=\"" << escape_label_value(v) << '"';
    }
    out_ << '}';
  }
  out_ << ' ' << format_value(value) << '\n';
}

void writer::comment(const std::string& text) {
  std::string line = text;
  for (char& c : line)
    if (c == '\n' || c == '\r') c = ' ';
  out_ << "# " << line << '\n';
}

const std::vector<double>& duration_buckets() {
  static const std::vector<double> b{0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5,
                                     1,     2.5,  5,     10,   30,  60};
  return b;
}

}  // namespace postbox::prom

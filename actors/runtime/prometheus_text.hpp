// Prometheus text exposition (format 0.0.4): one writer that puts HELP and TYPE
// before a family's samples, escapes label values and formats numbers, so every
// page a node serves passes `promtool check metrics`.
#pragma once

#include <initializer_list>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

namespace postbox::prom {

using labels = std::vector<std::pair<std::string, std::string>>;

/// A label value with \, " and newline escaped.
std::string escape_label_value(const std::string& s);
/// A sample value: integers exactly, others with 15 significant digits, +Inf/-Inf/NaN.
std::string format_value(double v);

class writer {
 public:
  /// Opens a family: `# HELP` and `# TYPE` (counter, gauge, histogram), once per name,
  /// also when no sample follows.
  void family(const std::string& name, const char* type, const std::string& help);
  /// One sample of the family opened last (`name` may carry _bucket/_sum/_count).
  void sample(const std::string& name, const labels& ls, double value);
  /// A `# ` comment line (newlines become spaces).
  void comment(const std::string& text);
  std::string str() const { return out_.str(); }

 private:
  std::ostringstream out_;
};

/// The handler-duration buckets (seconds), upper bounds; +Inf is implied.
const std::vector<double>& duration_buckets();

}  // namespace postbox::prom

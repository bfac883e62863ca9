// Strict YAML loader of the topology. Every unknown key, wrong type or bad value becomes one
// line `FILE:LINE:COL: path.to.key: message`, so a bad file fails at start and says where.
#include "config/topology.hpp"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <limits>
#include <optional>
#include <utility>

#include "config/cron.hpp"
#include "messages/messages.hpp"
#include "persistence/conninfo.hpp"
#include "postbox/error.hpp"

namespace postbox {

bool topology::claims_limited(const std::string& name) const {
  return !limits.empty() || queue(name).limit.any();
}

const queue_config& topology::queue(const std::string& name) const {
  static const queue_config defaults;
  auto i = queues.find(name);
  return i == queues.end() ? defaults : i->second;
}

const node_config* topology::node(const std::string& name) const {
  auto i = nodes.find(name);
  return i == nodes.end() ? nullptr : &i->second;
}

const program_config* topology::program(const std::string& name) const {
  auto i = programs.find(name);
  return i == programs.end() ? nullptr : &i->second;
}

const actor_type_config& topology::actor_type(const std::string& name) const {
  static const actor_type_config defaults;
  auto i = actor_types.find(name);
  return i == actor_types.end() ? defaults : i->second;
}

namespace {

using std::chrono::milliseconds;

const char* const duration_help = "use a positive integer with ms, s, m, h or d, e.g. 30s";

// Upper bounds of the topology's numbers. Durations end up as nanoseconds of
// steady_clock (int64: 292 years) and visibility timeouts as the server's
// idle_in_transaction_session_timeout (int32 milliseconds: 24.8 days).
constexpr milliseconds max_duration{std::chrono::hours{24 * 3650}};
constexpr milliseconds max_visibility_timeout{std::chrono::hours{24}};
constexpr int32_t max_attempts_bound = 1000;
constexpr int32_t max_claim_batch = 1000;
constexpr int32_t max_concurrency = 1000;
constexpr int32_t max_pool = 1000;
constexpr int32_t max_batch_size = 1000000;  // as postbox.submit (SQL) checks it

// "3650d", "24h", "1000ms": the largest unit that divides it.
std::string duration_text(milliseconds d) {
  const int64_t ms = d.count();
  if (ms % 86400000 == 0) return std::to_string(ms / 86400000) + "d";
  if (ms % 3600000 == 0) return std::to_string(ms / 3600000) + "h";
  if (ms % 60000 == 0) return std::to_string(ms / 60000) + "m";
  if (ms % 1000 == 0) return std::to_string(ms / 1000) + "s";
  return std::to_string(ms) + "ms";
}

std::optional<milliseconds> duration_of(const std::string& text) {
  std::size_t i = 0;
  int64_t n = 0;
  constexpr int64_t limit = std::numeric_limits<int64_t>::max() / 86400000;
  while (i < text.size() && text[i] >= '0' && text[i] <= '9') {
    n = n * 10 + (text[i++] - '0');
    if (n > limit) return std::nullopt;
  }
  if (i == 0 || n <= 0) return std::nullopt;
  const std::string unit = text.substr(i);
  if (unit == "ms") return milliseconds{n};
  if (unit == "s") return milliseconds{n * 1000};
  if (unit == "m") return milliseconds{n * 60000};
  if (unit == "h") return milliseconds{n * 3600000};
  if (unit == "d") return milliseconds{n * 86400000};
  return std::nullopt;
}

// Values are quoted back into one-line messages: keep them short and free of line breaks.
std::string shown(const std::string& s) {
  std::string out = "'";
  for (std::size_t i = 0; i < s.size() && i < 60; ++i) {
    const unsigned char c = static_cast<unsigned char>(s[i]);
    if (c == '\n')
      out += "\\n";
    else if (c == '\t')
      out += "\\t";
    else if (c < 0x20 || c == 0x7f)
      out += '?';
    else
      out += static_cast<char>(c);
  }
  if (s.size() > 60) out += "...";
  return out + "'";
}

// Optimal string alignment distance: a swapped pair ("btach") counts as one edit.
std::size_t edit_distance(const std::string& a, const std::string& b) {
  const std::size_t n = a.size(), m = b.size();
  std::vector<std::vector<std::size_t>> d(n + 1, std::vector<std::size_t>(m + 1));
  for (std::size_t i = 0; i <= n; ++i) d[i][0] = i;
  for (std::size_t j = 0; j <= m; ++j) d[0][j] = j;
  for (std::size_t i = 1; i <= n; ++i)
    for (std::size_t j = 1; j <= m; ++j) {
      const std::size_t cost = a[i - 1] == b[j - 1] ? 0 : 1;
      d[i][j] = std::min({d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost});
      if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1])
        d[i][j] = std::min(d[i][j], d[i - 2][j - 2] + 1);
    }
  return d[n][m];
}

std::size_t common_prefix(const std::string& a, const std::string& b) {
  std::size_t i = 0;
  while (i < a.size() && i < b.size() && a[i] == b[i]) ++i;
  return i;
}

// " (did you mean 'x'?)" for the closest candidate, or nothing when none is close.
std::string suggestion(const std::string& word, const std::vector<std::string>& candidates) {
  const std::string* best = nullptr;
  std::size_t best_distance = 0, best_prefix = 0;
  for (const auto& c : candidates) {
    const std::size_t d = edit_distance(word, c);
    const std::size_t p = common_prefix(word, c);
    const std::size_t shorter = std::min(word.size(), c.size());
    const bool close =
        (d <= 2 && d < std::max(word.size(), c.size())) || (p == shorter && shorter >= 3) || p >= 4;
    if (!close) continue;
    if (!best || d < best_distance || (d == best_distance && p > best_prefix)) {
      best = &c;
      best_distance = d;
      best_prefix = p;
    }
  }
  return best ? " (did you mean '" + *best + "'?)" : std::string{};
}

std::string joined(const std::vector<std::string>& words) {
  std::string out;
  for (const auto& w : words) out += (out.empty() ? "" : ", ") + w;
  return out;
}

std::string json_string(const std::string& s) {
  std::string out = "\"";
  for (const char ch : s) {
    const unsigned char c = static_cast<unsigned char>(ch);
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      default:
        if (c < 0x20) {
          static const char hex[] = "0123456789abcdef";
          out += "\\u00";
          out += hex[c >> 4];
          out += hex[c & 0xf];
        } else {
          out += ch;
        }
    }
  }
  return out + "\"";
}

bool valid_utf8(const std::string& s) {
  std::size_t i = 0;
  while (i < s.size()) {
    const unsigned char c = static_cast<unsigned char>(s[i]);
    std::size_t len = c < 0x80           ? 1
                      : (c >> 5) == 0x6  ? 2
                      : (c >> 4) == 0xe  ? 3
                      : (c >> 3) == 0x1e ? 4
                                         : 0;
    if (len == 0 || i + len > s.size()) return false;
    for (std::size_t k = 1; k < len; ++k)
      if ((static_cast<unsigned char>(s[i + k]) & 0xc0) != 0x80) return false;
    i += len;
  }
  return true;
}

// Exactly the JSON number grammar, so the text can be copied into the JSON verbatim.
bool json_number(const std::string& s) {
  std::size_t i = 0;
  auto digits = [&] {
    const std::size_t start = i;
    while (i < s.size() && s[i] >= '0' && s[i] <= '9') ++i;
    return i > start;
  };
  if (i < s.size() && s[i] == '-') ++i;
  if (i < s.size() && s[i] == '0')
    ++i;
  else if (!digits())
    return false;
  if (i < s.size() && s[i] == '.') {
    ++i;
    if (!digits()) return false;
  }
  if (i < s.size() && (s[i] == 'e' || s[i] == 'E')) {
    ++i;
    if (i < s.size() && (s[i] == '+' || s[i] == '-')) ++i;
    if (!digits()) return false;
  }
  return i == s.size();
}

bool valid_name(const std::string& s) {
  if (s.empty() || s.size() > 64) return false;
  return std::all_of(s.begin(), s.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
           c == '-' || c == '.';
  });
}

bool valid_var_name(const std::string& s) {
  if (s.empty() || (s[0] >= '0' && s[0] <= '9')) return false;
  return std::all_of(s.begin(), s.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
  });
}

const std::vector<std::string> consumer_roles = {"orchestrator", "file_batch", "callback"};
const std::vector<std::string> all_roles = {"orchestrator", "file_batch", "callback",
                                            "reaper",       "outbox",     "consumer"};
const std::vector<std::string> builtin_processors = {"checksum", "wordcount", "exec", "chaos"};

// 1-based for humans; a node built without a position is reported at the top of the file.
std::string where(const YAML::Mark& m) {
  if (m.is_null()) return "1:1";
  return std::to_string(m.line + 1) + ":" + std::to_string(m.column + 1);
}

// Thrown inside the loader only; load_topology_string turns it into an error value.
struct config_failure {
  std::string text;
};

// One key of a mapping, with both nodes so messages can point at the key or at the value.
struct entry {
  std::string key;
  YAML::Node key_node;
  YAML::Node value;
  std::string path;

  bool absent() const { return value.IsNull(); }
  // An empty value (`key:`) carries the next token's mark: point at the key instead.
  YAML::Mark value_mark() const { return value.IsNull() ? key_node.Mark() : value.Mark(); }
};

// A checked mapping: keys are known, unique strings. Entries are looked up, never node[key],
// because subscripting a const node that lacks the key throws and a mutable one inserts.
struct mapping {
  std::string path;
  YAML::Mark at;  // where a missing required key is reported
  std::vector<entry> entries;

  const entry* find(const std::string& key) const {
    for (const auto& e : entries)
      if (e.key == key) return &e;
    return nullptr;
  }
  // The entry when present and not null.
  const entry* given(const std::string& key) const {
    const entry* e = find(key);
    return e && !e->absent() ? e : nullptr;
  }
  std::string child(const std::string& key) const { return path.empty() ? key : path + "." + key; }
};

class loader {
 public:
  loader(std::string source, const std::set<std::string>& extra)
      : source_(std::move(source)), extra_(extra) {}

  topology load(const std::string& yaml) {
    std::vector<YAML::Node> docs;
    try {
      docs = YAML::LoadAll(yaml);
    } catch (const YAML::ParserException& e) {
      throw config_failure{source_ + ":" + where(e.mark) + ": syntax error: " + e.msg};
    }
    YAML::Mark start;
    if (docs.empty() || docs[0].IsNull())
      fail(start, "topology", "the file is empty (it needs at least database and nodes)");
    if (docs.size() > 1) fail(docs[1].Mark(), "topology", "only one YAML document is allowed");
    const YAML::Node& root = docs[0];
    const mapping m = open(root, start, "", "topology",
                           {"cluster", "database", "queues", "workflows", "programs", "webhooks",
                            "usage", "reaper", "retention", "actor_types", "schedules", "limits",
                            "priorities", "control", "nodes", "drain_timeout", "startup_timeout"});
    topology t;
    t.source = source_;
    if (const entry* e = m.given("cluster")) {
      t.cluster = string_of(*e);
      if (!valid_name(t.cluster))
        fail(e->value_mark(), e->path,
             "invalid name " + shown(t.cluster) + " (use letters, digits, '_', '-' or '.')");
    }
    if (const entry* e = m.find("database"))
      t.database = database(*e);
    else
      fail(m.at, "database.dsn", "missing: the database needs a dsn");
    if (const entry* e = m.given("queues")) queues(*e, t);
    if (const entry* e = m.given("workflows")) workflows(*e, t);
    if (const entry* e = m.given("programs")) programs(*e, t);
    if (const entry* e = m.given("webhooks")) t.webhooks = webhooks(*e);
    if (const entry* e = m.given("usage")) t.usage = webhooks(*e);
    if (const entry* e = m.given("reaper")) t.reaper = reaper(*e);
    if (const entry* e = m.given("retention")) t.retention = retention(*e);
    if (const entry* e = m.given("actor_types")) actor_types(*e, t);
    if (const entry* e = m.given("schedules")) schedules(*e, t);
    if (const entry* e = m.given("limits")) limits(*e, t);
    if (const entry* e = m.given("priorities")) t.priorities = priorities(*e);
    if (const entry* e = m.given("control")) t.control = control(*e);
    if (const entry* e = m.given("drain_timeout")) t.drain_timeout = duration(*e);
    if (const entry* e = m.given("startup_timeout")) t.startup_timeout = duration(*e);
    const entry* nodes_entry = m.find("nodes");
    if (!nodes_entry) fail(m.at, "nodes", "missing: at least one node is required");
    nodes(*nodes_entry, t);
    check_queue_names(m, t);
    check_pipeline_queues(*nodes_entry, t);
    return t;
  }

 private:
  [[noreturn]] void fail(const YAML::Mark& m, const std::string& path,
                         const std::string& what) const {
    throw config_failure{source_ + ":" + where(m) + ": " + path + ": " + what};
  }

  static std::string kind_of(const YAML::Node& n) {
    if (n.IsMap()) return "a mapping";
    if (n.IsSequence()) return "a sequence";
    if (n.IsNull()) return "nothing";
    return shown(n.Scalar());
  }

  // Checks that `n` is a mapping of unique, allowed keys (any keys when `allowed` is empty:
  // the names of queues, workflows and nodes). `at` is the mark of the key that owns it.
  mapping open(const YAML::Node& n, const YAML::Mark& at, const std::string& path,
               const std::string& display, const std::vector<std::string>& allowed) const {
    mapping m{path, at, {}};
    if (n.IsNull()) return m;
    if (!n.IsMap()) fail(n.Mark(), display, "expected a mapping, got " + kind_of(n));
    for (auto it = n.begin(); it != n.end(); ++it) {
      const YAML::Node k = it->first;  // a copy: `it->` yields a temporary proxy
      if (!k.IsScalar()) fail(k.Mark(), display, "keys must be plain names, got " + kind_of(k));
      const std::string key = k.Scalar();
      if (!allowed.empty() && std::find(allowed.begin(), allowed.end(), key) == allowed.end())
        fail(k.Mark(), display, "unknown key " + shown(key) + suggestion(key, allowed));
      if (const entry* first = m.find(key))
        fail(k.Mark(), display,
             "duplicate key " + shown(key) + " (first at line " +
                 std::to_string(first->key_node.Mark().line + 1) + ")");
      m.entries.push_back(entry{key, k, it->second, m.child(key)});
    }
    return m;
  }

  mapping open(const entry& e, const std::vector<std::string>& allowed) const {
    return open(e.value, e.key_node.Mark(), e.path, e.path, allowed);
  }

  // ${VAR} and ${VAR:-default}, expanded per scalar after parsing so marks stay exact and
  // YAML syntax in a variable's value cannot change the document's structure.
  std::string expand(const std::string& s, const YAML::Mark& m, const std::string& path) const {
    std::string out;
    for (std::size_t i = 0; i < s.size();) {
      if (s.compare(i, 2, "${") != 0) {
        out += s[i++];
        continue;
      }
      const std::size_t close = s.find('}', i);
      if (close == std::string::npos) fail(m, path, "unterminated ${ in " + shown(s));
      std::string name = s.substr(i + 2, close - i - 2), fallback;
      const std::size_t dash = name.find(":-");
      const bool has_fallback = dash != std::string::npos;
      if (has_fallback) {
        fallback = name.substr(dash + 2);
        name.resize(dash);
      }
      if (!valid_var_name(name))
        fail(m, path, "invalid variable name " + shown(name) + " in " + shown(s));
      const char* v = std::getenv(name.c_str());
      if (v && *v)  // ":-" semantics: an empty variable counts as unset
        out += v;
      else if (has_fallback)
        out += fallback;
      else
        fail(m, path, "environment variable " + name + (v ? " is empty" : " is not set"));
      i = close + 1;
    }
    return out;
  }

  std::string scalar_of(const YAML::Node& n, const YAML::Mark& m, const std::string& path,
                        const char* expected) const {
    if (!n.IsScalar()) fail(m, path, std::string("expected ") + expected + ", got " + kind_of(n));
    return expand(n.Scalar(), m, path);
  }

  std::string string_of(const entry& e) const {
    return scalar_of(e.value, e.value_mark(), e.path, "a string");
  }

  // `positive`: a value below 1 reads "must be a positive integer" (a count).
  int64_t integer_of(const YAML::Node& n, const YAML::Mark& m, const std::string& path, int64_t min,
                     int64_t max, bool positive = false) const {
    const std::string s = scalar_of(n, m, path, "an integer");
    std::size_t i = (!s.empty() && (s[0] == '-' || s[0] == '+')) ? 1 : 0;
    int64_t v = 0;
    const bool digits =
        i < s.size() && std::all_of(s.begin() + static_cast<std::ptrdiff_t>(i), s.end(),
                                    [](char c) { return c >= '0' && c <= '9'; });
    if (!digits) fail(m, path, "expected an integer, got " + shown(s));
    bool overflow = false;
    for (; i < s.size(); ++i) {
      v = v * 10 + (s[i] - '0');
      if (v > std::numeric_limits<int32_t>::max()) overflow = true;
      if (overflow) break;
    }
    if (s[0] == '-') v = -v;
    if (overflow || v < min || v > max) {
      if (min == 1 &&
          (max == std::numeric_limits<int32_t>::max() || (positive && !overflow && v < min)))
        fail(m, path, "must be a positive integer, got " + s);
      fail(m, path,
           "must be an integer from " + std::to_string(min) + " to " + std::to_string(max) +
               ", got " + s);
    }
    return v;
  }

  // A count with an upper bound: what the runtime multiplies, sums or turns into
  // threads and connections stays far from overflow and from exhausting the host.
  int32_t count_to(const entry& e, int32_t max) const {
    return static_cast<int32_t>(integer_of(e.value, e.value_mark(), e.path, 1, max, true));
  }

  bool bool_of(const entry& e) const {
    const std::string s = scalar_of(e.value, e.value_mark(), e.path, "true or false");
    if (s == "true" || s == "True" || s == "TRUE") return true;
    if (s == "false" || s == "False" || s == "FALSE") return false;
    fail(e.value_mark(), e.path, "expected true or false, got " + shown(s));
  }

  milliseconds duration(const YAML::Node& n, const YAML::Mark& m, const std::string& path,
                        milliseconds max = max_duration) const {
    const std::string s = scalar_of(n, m, path, "a duration");
    auto d = duration_of(s);
    if (!d) fail(m, path, "invalid duration " + shown(s) + " (" + duration_help + ")");
    if (*d > max) fail(m, path, "must be at most " + duration_text(max) + ", got " + shown(s));
    return *d;
  }

  milliseconds duration(const entry& e, milliseconds max = max_duration) const {
    return duration(e.value, e.value_mark(), e.path, max);
  }

  void check_name(const entry& e, const std::string& display) const {
    if (!valid_name(e.key))
      fail(e.key_node.Mark(), display,
           "invalid name " + shown(e.key) + " (use letters, digits, '_', '-' or '.')");
  }

  database_config database(const entry& section) const {
    const mapping m = open(section, {"dsn", "pool", "password_file", "pooler", "group_commit"});
    database_config c;
    const entry* dsn = m.given("dsn");
    if (!dsn) fail(m.at, m.child("dsn"), "missing: the database needs a dsn");
    c.dsn = string_of(*dsn);
    if (c.dsn.empty())
      fail(dsn->value_mark(), dsn->path,
           dsn->value.Scalar().find("${") != std::string::npos
               ? "is empty after expanding " + shown(dsn->value.Scalar())
               : "must not be empty");
    if (const entry* e = m.given("pool")) c.pool = count_to(*e, max_pool);
    if (const entry* e = m.given("password_file")) c.password_file = string_of(*e);
    if (const entry* e = m.given("group_commit")) c.group_commit = bool_of(*e);
    if (const entry* e = m.given("pooler")) {
      c.pooler = string_of(*e);
      if (c.pooler != "none" && c.pooler != "session" && c.pooler != "transaction")
        fail(e->value_mark(), e->path,
             "expected none, session or transaction, got " + shown(c.pooler));
    }
    return c;
  }

  void queues(const entry& section, topology& t) const {
    const mapping all = open(section, {});
    for (const auto& q : all.entries) {
      check_name(q, section.path);
      const mapping m =
          open(q, {"visibility_timeout", "max_attempts", "claim_batch", "prefetch", "poll_interval",
                   "max_handler_time", "max_in_flight", "rate", "burst"});
      queue_config c;
      c.limit = limit(m);
      if (const entry* e = m.given("visibility_timeout"))
        c.visibility_timeout = duration(*e, max_visibility_timeout);
      if (const entry* e = m.given("max_attempts"))
        c.max_attempts = count_to(*e, max_attempts_bound);
      if (const entry* e = m.given("claim_batch")) c.claim_batch = count_to(*e, max_claim_batch);
      if (const entry* e = m.given("prefetch")) {
        if (e->value.IsScalar() && e->value.Scalar() == "auto")
          c.prefetch = queue_config::prefetch_auto;
        else
          c.prefetch =
              static_cast<int32_t>(integer_of(e->value, e->value_mark(), e->path, 0, 1000));
      }
      if (const entry* e = m.given("poll_interval")) c.poll_interval = duration(*e);
      if (const entry* e = m.given("max_handler_time")) c.max_handler_time = duration(*e);
      t.queues.emplace(q.key, c);
    }
  }

  // max_in_flight, rate ("20/s", "600/m", "10/h") and burst of a queue or a limit key.
  limit_config limit(const mapping& m) const {
    limit_config c;
    if (const entry* e = m.given("max_in_flight")) c.max_in_flight = count_to(*e, 100000);
    if (const entry* e = m.given("rate")) {
      const std::string s = string_of(*e);
      const auto slash = s.find('/');
      const std::string num = s.substr(0, slash),
                        per = slash == std::string::npos ? "" : s.substr(slash + 1);
      double v = 0;
      std::size_t used = 0;
      try {
        v = std::stod(num, &used);
      } catch (const std::exception&) {
        used = 0;
      }
      const double secs = per == "s" ? 1 : per == "m" ? 60 : per == "h" ? 3600 : 0;
      if (used == 0 || used != num.size() || secs == 0 || !(v > 0) || v / secs > 1e6 ||
          v / secs < 1e-4)
        fail(e->value_mark(), e->path,
             "expected a rate like 20/s, 600/m or 10/h (at most 1000000/s, at least 1/3h), got " +
                 shown(s));
      c.rate = v / secs;
    }
    if (const entry* e = m.given("burst")) {
      if (c.rate == 0) fail(e->key_node.Mark(), e->path, "burst needs a rate");
      c.burst = count_to(*e, 1000000);
    } else if (c.rate > 0) {
      c.burst = 1;
    }
    return c;
  }

  void limits(const entry& section, topology& t) const {
    const mapping all = open(section, {});
    for (const auto& k : all.entries) {
      if (k.key.empty() || k.key.size() > 256)
        fail(k.key_node.Mark(), section.path, "a limit key has 1 to 256 bytes");
      const mapping m = open(k, {"max_in_flight", "rate", "burst"});
      limit_config c = limit(m);
      if (!c.any()) fail(m.at, k.path, "a limit needs max_in_flight or rate");
      t.limits.emplace(k.key, c);
    }
  }

  void workflows(const entry& section, topology& t) const {
    const mapping all = open(section, {});
    for (const auto& w : all.entries) {
      check_name(w, section.path);
      const mapping m = open(w, {"processor", "batch_size", "options"});
      workflow_config c;
      c.name = w.key;
      const entry* p = m.given("processor");
      if (!p) fail(m.at, m.child("processor"), "missing: a workflow needs a processor");
      c.processor = string_of(*p);
      std::vector<std::string> known = builtin_processors;
      for (const auto& x : extra_)
        if (std::find(known.begin(), known.end(), x) == known.end()) known.push_back(x);
      if (std::find(known.begin(), known.end(), c.processor) == known.end())
        fail(p->value_mark(), p->path,
             "unknown processor " + shown(c.processor) + suggestion(c.processor, known) +
                 "; known: " + joined(known));
      if (const entry* e = m.given("batch_size")) c.batch_size = count_to(*e, max_batch_size);
      c.options_json = options(c.processor, m);
      t.workflows.emplace(w.key, std::move(c));
    }
  }

  // Built-in processors get their options checked and typed; registered ones get a
  // faithful JSON rendering of whatever mapping they were given.
  std::string options(const std::string& processor, const mapping& workflow) const {
    const entry* o = workflow.find("options");
    const std::string path = workflow.child("options");
    const YAML::Mark at = o ? o->key_node.Mark() : workflow.at;
    if (o && !o->absent() && !o->value.IsMap())
      fail(o->value.Mark(), path, "expected a mapping, got " + kind_of(o->value));
    const YAML::Node none;
    const YAML::Node& value = o ? o->value : none;
    if (processor == "checksum" || processor == "wordcount") {
      const mapping m = open(value, at, path, path, {});
      if (!m.entries.empty())
        fail(m.entries[0].key_node.Mark(), path,
             "processor " + processor + " takes no options, got " + shown(m.entries[0].key));
      return "{}";
    }
    if (processor == "exec") {
      const mapping m = open(value, at, path, path, {"argv", "timeout", "env"});
      const entry* argv = m.given("argv");
      if (!argv)
        fail(at, m.child("argv"),
             "missing: processor exec needs argv, a non-empty list of strings");
      if (!argv->value.IsSequence() || argv->value.size() == 0)
        fail(argv->value_mark(), argv->path,
             "expected a non-empty sequence of strings, got " +
                 (argv->value.IsSequence() ? std::string("an empty sequence")
                                           : kind_of(argv->value)));
      std::string out = "{\"argv\":[";
      std::size_t i = 0;
      for (auto it = argv->value.begin(); it != argv->value.end(); ++it, ++i) {
        const std::string item_path = argv->path + "[" + std::to_string(i) + "]";
        const YAML::Mark mark = it->IsNull() ? argv->value.Mark() : it->Mark();
        if (it->IsNull()) fail(mark, item_path, "expected a string, got nothing");
        out += (i ? "," : "") +
               json_text(scalar_of(*it, mark, item_path, "a string"), mark, item_path);
      }
      out += "]";
      if (const entry* e = m.given("timeout")) {
        duration(*e);
        out += ",\"timeout\":" + json_string(string_of(*e));
      }
      if (const entry* e = m.given("env")) out += ",\"env\":" + env_json(*e);
      return out + "}";
    }
    if (processor == "chaos") {
      const mapping m =
          open(value, at, path, path, {"sleep_ms", "fail_on", "abort_on", "hang_on", "hang_ms"});
      std::string out;
      for (const auto& e : m.entries) {
        if (e.absent()) continue;
        std::string v;
        if (e.key == "sleep_ms" || e.key == "hang_ms")
          v = std::to_string(
              integer_of(e.value, e.value_mark(), e.path, 0, std::numeric_limits<int32_t>::max()));
        else
          v = json_text(string_of(e), e.value_mark(), e.path);
        out += (out.empty() ? "" : ",") + json_string(e.key) + ":" + v;
      }
      return "{" + out + "}";
    }
    if (value.IsNull()) return "{}";
    return any_json(value, at, path);
  }

  std::string json_text(const std::string& s, const YAML::Mark& m, const std::string& path) const {
    if (!valid_utf8(s)) fail(m, path, "is not valid UTF-8");
    return json_string(s);
  }

  // `depth` stops an alias that refers to its own anchor from recursing forever.
  std::string any_json(const YAML::Node& n, const YAML::Mark& at, const std::string& path,
                       int depth = 0) const {
    if (depth > 32) fail(at, path, "nested too deeply (more than 32 levels)");
    if (n.IsNull()) return "null";
    if (n.IsMap()) {
      const mapping m = open(n, at, path, path, {});
      std::string out;
      for (const auto& e : m.entries)
        out += (out.empty() ? "" : ",") + json_text(e.key, e.key_node.Mark(), path) + ":" +
               any_json(e.value, e.key_node.Mark(), e.path, depth + 1);
      return "{" + out + "}";
    }
    if (n.IsSequence()) {
      std::string out;
      std::size_t i = 0;
      for (auto it = n.begin(); it != n.end(); ++it, ++i)
        out += (i ? "," : "") + any_json(*it, it->IsNull() ? n.Mark() : it->Mark(),
                                         path + "[" + std::to_string(i) + "]", depth + 1);
      return "[" + out + "]";
    }
    const std::string s = expand(n.Scalar(), n.Mark(), path);
    if (n.Tag() == "?") {  // plain (unquoted): numbers and booleans keep their type
      if (json_number(s)) return s;
      if (s == "true" || s == "True" || s == "TRUE") return "true";
      if (s == "false" || s == "False" || s == "FALSE") return "false";
    }
    return json_text(s, n.Mark(), path);
  }

  webhook_config webhooks(const entry& section) const {
    const mapping m = open(section, {"url", "max_attempts", "timeout"});
    webhook_config c;
    if (const entry* e = m.given("url")) {
      c.url = string_of(*e);
      if (!c.url.empty() && c.url.rfind("http://", 0) != 0 && c.url.rfind("https://", 0) != 0)
        fail(e->value_mark(), e->path, "expected an http:// or https:// URL, got " + shown(c.url));
    }
    if (const entry* e = m.given("max_attempts")) c.max_attempts = count_to(*e, max_attempts_bound);
    if (const entry* e = m.given("timeout")) c.timeout = duration(*e);
    return c;
  }

  control_config control(const entry& section) const {
    const mapping m = open(section, {"bind", "token_env", "token_file", "tls", "request_timeout",
                                     "heartbeat", "connection_timeout"});
    control_config c;
    if (const entry* e = m.given("bind")) {
      c.bind = string_of(*e);
      if (c.bind.empty()) fail(e->value_mark(), e->path, "must not be empty");
    }
    if (const entry* e = m.given("token_env")) c.token_env = string_of(*e);
    if (const entry* e = m.given("token_file")) c.token_file = string_of(*e);
    if (const entry* e = m.given("request_timeout")) c.request_timeout = duration(*e);
    if (const entry* e = m.given("heartbeat")) c.heartbeat = duration(*e);
    if (const entry* e = m.given("connection_timeout")) c.connection_timeout = duration(*e);
    if (const entry* e = m.given("tls")) {
      const mapping t = open(*e, {"certificate", "key", "cafile"});
      const entry* cert = t.find("certificate");
      const entry* key = t.find("key");
      const entry* ca = t.find("cafile");
      if (!cert || !key || !ca)
        fail(e->key_node.Mark(), e->path, "tls needs certificate, key and cafile");
      c.tls_certificate = string_of(*cert);
      c.tls_key = string_of(*key);
      c.tls_cafile = string_of(*ca);
    }
    return c;
  }

  reaper_config reaper(const entry& section) const {
    const mapping m =
        open(section, {"interval", "stuck_after", "tombstone_retention", "reply_retention"});
    reaper_config c;
    if (const entry* e = m.given("interval")) c.interval = duration(*e);
    if (const entry* e = m.given("stuck_after")) c.stuck_after = duration(*e);
    if (const entry* e = m.given("tombstone_retention")) c.tombstone_retention = duration(*e);
    if (const entry* e = m.given("reply_retention")) c.reply_retention = duration(*e);
    return c;
  }

  retention_config retention(const entry& section) const {
    const mapping m = open(section, {"completed", "failed", "dead_letters", "outbox_delivered",
                                     "idle_actors", "batch"});
    retention_config c;
    if (const entry* e = m.given("completed")) c.completed = duration(*e);
    if (const entry* e = m.given("failed")) c.failed = duration(*e);
    if (const entry* e = m.given("dead_letters")) c.dead_letters = duration(*e);
    if (const entry* e = m.given("outbox_delivered")) c.outbox_delivered = duration(*e);
    if (const entry* e = m.given("idle_actors")) c.idle_actors = duration(*e);
    if (const entry* e = m.given("batch"))
      c.batch = static_cast<int32_t>(integer_of(e->value, e->value_mark(), e->path, 1, 100000));
    return c;
  }

  void actor_types(const entry& section, topology& t) const {
    const mapping all = open(section, {});
    for (const auto& a : all.entries) {
      check_name(a, section.path);
      const mapping m = open(a, {"on_poison"});
      actor_type_config c;
      if (const entry* e = m.given("on_poison")) {
        c.on_poison = string_of(*e);
        if (c.on_poison != "hold" && c.on_poison != "skip")
          fail(e->value_mark(), e->path, "must be hold or skip, got " + shown(c.on_poison));
      }
      t.actor_types[a.key] = c;
    }
  }

  // The text of an error without its code ("invalid_argument: ").
  static std::string detail_of(const caf::error& err) {
    auto text = describe(err);
    auto colon = text.find(": ");
    return colon == std::string::npos ? text : text.substr(colon + 2);
  }

  void schedules(const entry& section, topology& t) const {
    const mapping all = open(section, {});
    for (const auto& a : all.entries) {
      check_name(a, section.path);
      const mapping m =
          open(a, {"cron", "timezone", "send", "on_missed", "overlap", "catch_up_window"});
      schedule_config c;
      const entry* cron = m.given("cron");
      if (!cron) fail(m.at, m.child("cron"), "missing: a schedule needs a cron expression");
      c.cron = string_of(*cron);
      if (auto parsed = parse_cron(c.cron); !parsed)
        fail(cron->value_mark(), cron->path, detail_of(parsed.error()));
      if (const entry* e = m.given("timezone")) {
        c.timezone = string_of(*e);
        if (auto err = check_time_zone(c.timezone)) fail(e->value_mark(), e->path, detail_of(err));
      }
      const entry* send = m.given("send");
      if (!send) fail(m.at, m.child("send"), "missing: a schedule needs send: {queue, type}");
      c.send = schedule_send(*send);
      if (const entry* e = m.given("on_missed")) {
        c.on_missed = string_of(*e);
        if (c.on_missed != "skip" && c.on_missed != "once" && c.on_missed != "all")
          fail(e->value_mark(), e->path,
               "must be skip, once or all, got " + shown(c.on_missed) +
                   suggestion(c.on_missed, {"skip", "once", "all"}));
      }
      if (const entry* e = m.given("overlap")) {
        c.overlap = string_of(*e);
        if (c.overlap != "allow" && c.overlap != "skip")
          fail(e->value_mark(), e->path,
               "must be allow or skip, got " + shown(c.overlap) +
                   suggestion(c.overlap, {"allow", "skip"}));
      }
      if (const entry* e = m.given("catch_up_window")) c.catch_up_window = duration(*e);
      t.schedules[a.key] = c;
    }
  }

  // A schedule's message as JSON {queue, type, payload[, headers, actor_type, actor_key]}.
  std::string schedule_send(const entry& e) const {
    const mapping m = open(e, {"queue", "type", "payload", "headers", "actor_type", "actor_key"});
    std::string out;
    for (const auto& f : m.entries) {
      if (f.absent()) continue;
      std::string v;
      if (f.key == "payload" || f.key == "headers") {
        if (!f.value.IsMap())
          fail(f.value_mark(), f.path, "expected a mapping, got " + kind_of(f.value));
        v = any_json(f.value, f.key_node.Mark(), f.path);
      } else {
        const std::string text = string_of(f);
        if (text.empty()) fail(f.value_mark(), f.path, "must not be empty");
        v = json_text(text, f.value_mark(), f.path);
      }
      out += (out.empty() ? "" : ",") + json_string(f.key) + ":" + v;
    }
    if (!m.given("type")) fail(m.at, m.child("type"), "missing: the message needs a type");
    if (static_cast<bool>(m.given("actor_type")) != static_cast<bool>(m.given("actor_key")))
      fail(m.at, m.path, "actor_type and actor_key go together");
    if (!m.given("queue") && !m.given("actor_key"))
      fail(m.at, m.child("queue"), "missing: the message needs a queue (or an actor)");
    return "{" + out + "}";
  }

  priorities_config priorities(const entry& section) const {
    const mapping m = open(section, {"aging_after", "types"});
    priorities_config c;
    if (const entry* e = m.given("aging_after")) c.aging_after = duration(*e);
    if (const entry* e = m.given("types")) {
      const mapping all = open(*e, {});
      for (const auto& t : all.entries) {
        const std::string name = string_of(t);
        auto p = priority_from_string(name);
        if (!p)
          fail(t.value_mark(), t.path,
               "must be one of low, normal, high, urgent, got " + shown(name));
        c.types[t.key] = *p;
      }
    }
    return c;
  }

  void nodes(const entry& section, topology& t) const {
    const mapping all = open(section, {});
    if (all.entries.empty())
      fail(section.key_node.Mark(), section.path, "at least one node is required");
    for (const auto& n : all.entries) {
      check_name(n, section.path);
      const mapping m = open(n, {"host", "control_port", "http_port", "actors"});
      node_config c;
      c.name = n.key;
      if (const entry* e = m.given("host")) {
        c.host = string_of(*e);
        if (c.host.empty()) fail(e->value_mark(), e->path, "must not be empty");
      }
      if (const entry* e = m.given("control_port"))
        c.control_port =
            static_cast<uint16_t>(integer_of(e->value, e->value_mark(), e->path, 0, 65535));
      if (const entry* e = m.given("http_port")) {
        c.http_port =
            static_cast<uint16_t>(integer_of(e->value, e->value_mark(), e->path, 0, 65535));
        if (c.http_port != 0 && c.http_port == c.control_port)
          fail(e->value_mark(), e->path,
               "port " + std::to_string(c.http_port) + " is already the control_port");
      }
      c.actors = actors(m, t);
      t.nodes.emplace(n.key, std::move(c));
    }
  }

  // Each program: argv (strings, argv[0] not empty), the queue and types it serves,
  // how many processes, extra environment.
  void programs(const entry& section, topology& t) const {
    const mapping all = open(section, {});
    for (const auto& p : all.entries) {
      check_name(p, section.path);
      const mapping m = open(p, {"argv", "queue", "types", "concurrency", "env"});
      program_config c;
      c.name = p.key;
      c.argv = names_list(m, "argv", false);
      if (c.argv[0].empty())
        fail(m.given("argv")->value_mark(), m.child("argv") + "[0]",
             "the program to run must not be empty");
      const entry* queue = m.given("queue");
      if (!queue) fail(m.at, m.child("queue"), "missing: a program serves one queue");
      c.queue = string_of(*queue);
      if (!valid_name(c.queue))
        fail(queue->value_mark(), queue->path,
             "invalid queue name " + shown(c.queue) + " (use letters, digits, '_', '-' or '.')");
      c.types = names_list(m, "types", true);
      if (const entry* e = m.given("concurrency")) c.concurrency = count_to(*e, max_concurrency);
      if (const entry* e = m.given("env")) c.env = env_map(*e);
      t.programs.emplace(p.key, std::move(c));
    }
  }

  // `env: { NAME: value }`: what a started program gets besides PATH, HOME and LANG.
  std::map<std::string, std::string> env_map(const entry& section) const {
    const mapping env = open(section, {});
    std::map<std::string, std::string> out;
    for (const auto& v : env.entries) {
      if (!valid_var_name(v.key))
        fail(v.key_node.Mark(), env.path, "invalid variable name " + shown(v.key));
      out[v.key] = string_of(v);
    }
    return out;
  }

  std::string env_json(const entry& section) const {
    std::string out;
    for (const auto& [k, v] : env_map(section))
      out += (out.empty() ? "" : ",") + json_string(k) + ":" +
             json_text(v, section.value_mark(), section.path);
    return "{" + out + "}";
  }

  // A required, non-empty sequence of strings under `key`; `names` also checks each is a
  // valid name and given once (message types).
  std::vector<std::string> names_list(const mapping& m, const std::string& key, bool names) const {
    const entry* e = m.given(key);
    if (!e) fail(m.at, m.child(key), "missing: a non-empty list is required");
    if (!e->value.IsSequence() || e->value.size() == 0)
      fail(e->value_mark(), e->path, "expected a non-empty list, got " + kind_of(e->value));
    std::vector<std::string> out;
    for (std::size_t i = 0; i < e->value.size(); ++i) {
      const std::string path = e->path + "[" + std::to_string(i) + "]";
      const YAML::Node item = e->value[i];
      std::string v = scalar_of(item, item.Mark(), path, "a string");
      if (names && !valid_name(v))
        fail(item.Mark(), path,
             "invalid type name " + shown(v) + " (use letters, digits, '_', '-' or '.')");
      if (names && std::find(out.begin(), out.end(), v) != out.end())
        fail(item.Mark(), path, "type " + shown(v) + " is listed twice");
      out.push_back(std::move(v));
    }
    return out;
  }

  std::vector<actor_config> actors(const mapping& node, const topology& t) const {
    const entry* list = node.find("actors");
    const std::string path = node.child("actors");
    if (!list) fail(node.at, path, "missing: a node needs at least one actor");
    if (list->absent() || (list->value.IsSequence() && list->value.size() == 0))
      fail(list->value_mark(), path, "a node needs at least one actor");
    if (!list->value.IsSequence())
      fail(list->value.Mark(), path, "expected a sequence, got " + kind_of(list->value));
    std::vector<actor_config> out;
    std::size_t i = 0;
    for (auto it = list->value.begin(); it != list->value.end(); ++it, ++i) {
      const std::string item = path + "[" + std::to_string(i) + "]";
      const YAML::Mark item_mark = it->IsNull() ? list->value.Mark() : it->Mark();
      if (!it->IsMap())
        fail(item_mark, item, "expected a mapping like { role: file_batch }, got " + kind_of(*it));
      const mapping m =
          open(*it, item_mark, item, item, {"role", "concurrency", "queue", "program"});
      actor_config a;
      if (const entry* p = m.given("program")) {
        // { program: NAME }: a consumer of the program's queue, one process per worker.
        if (const entry* e = m.given("role") ? m.given("role") : m.given("queue"))
          fail(e->key_node.Mark(), m.path,
               "a program actor takes no " + e->key + " (the program names its queue)");
        a.program = string_of(*p);
        const program_config* prog = t.program(a.program);
        if (!prog) {
          std::vector<std::string> known;
          for (const auto& [name, _] : t.programs) known.push_back(name);
          fail(p->value_mark(), p->path,
               "unknown program " + shown(a.program) + suggestion(a.program, known) +
                   (known.empty() ? "; no programs are declared (top-level key programs)"
                                  : "; programs: " + joined(known)));
        }
        a.role = "consumer";
        a.queue = prog->queue;
        a.concurrency = prog->concurrency;
        if (const entry* e = m.given("concurrency")) a.concurrency = count_to(*e, max_concurrency);
        check_unique(out, a, item_mark, item);
        out.push_back(std::move(a));
        continue;
      }
      // { queue: NAME } alone is a generic consumer: it serves that queue with the
      // handlers the node has for its messages' types.
      const entry* role = m.given("role");
      if (!role && !m.given("queue"))
        fail(m.at, m.child("role"), "missing: an actor needs a role or a queue");
      a.role = role ? string_of(*role) : "consumer";
      if (role && std::find(all_roles.begin(), all_roles.end(), a.role) == all_roles.end())
        fail(role->value_mark(), role->path,
             "unknown role " + shown(a.role) + suggestion(a.role, all_roles) +
                 "; roles: " + joined(all_roles));
      if (const entry* e = m.given("concurrency")) a.concurrency = count_to(*e, max_concurrency);
      const bool consumer =
          a.role == "consumer" ||
          std::find(consumer_roles.begin(), consumer_roles.end(), a.role) != consumer_roles.end();
      if (consumer && a.role != "consumer") a.queue = a.role;
      if (a.role == "consumer" && !m.given("queue"))
        fail(m.at, m.child("queue"), "missing: role consumer needs a queue");
      if (const entry* e = m.given("queue")) {
        if (!consumer) fail(e->key_node.Mark(), m.path, "role " + a.role + " consumes no queue");
        a.queue = string_of(*e);
        if (!valid_name(a.queue))
          fail(e->value_mark(), e->path,
               "invalid queue name " + shown(a.queue) + " (use letters, digits, '_', '-' or '.')");
      }
      check_unique(out, a, item_mark, item);
      out.push_back(std::move(a));
    }
    return out;
  }

  void check_unique(const std::vector<actor_config>& out, const actor_config& a,
                    const YAML::Mark& item_mark, const std::string& item) const {
    for (std::size_t j = 0; j < out.size(); ++j) {
      if (!a.queue.empty() && out[j].queue == a.queue)
        fail(item_mark, item,
             "queue " + a.queue + " is already consumed by actors[" + std::to_string(j) +
                 "] (raise its concurrency instead)");
      if (a.queue.empty() && out[j].role == a.role)
        fail(item_mark, item,
             "role " + a.role + " is already listed as actors[" + std::to_string(j) + "]");
    }
  }

  // A listed queue nobody consumes is almost always a typo of one that is consumed.
  void check_queue_names(const mapping& root, const topology& t) const {
    if (t.queues.empty()) return;
    std::vector<std::string> consumed = consumer_roles;
    for (const auto& [name, node] : t.nodes)
      for (const auto& a : node.actors)
        if (!a.queue.empty() &&
            std::find(consumed.begin(), consumed.end(), a.queue) == consumed.end())
          consumed.push_back(a.queue);
    const mapping all = open(*root.find("queues"), {});
    for (const auto& q : all.entries)
      if (std::find(consumed.begin(), consumed.end(), q.key) == consumed.end())
        fail(q.key_node.Mark(), all.path,
             "unknown queue " + shown(q.key) + suggestion(q.key, consumed) +
                 "; queues: " + joined(consumed));
  }

  // A cluster that runs workflows needs a consumer of every queue the pipeline sends
  // to; without one its executions would wait there forever, silently.
  void check_pipeline_queues(const entry& nodes_entry, const topology& t) const {
    if (t.workflows.empty()) return;
    for (const char* queue : pipeline_queues) {
      bool consumed = false;
      for (const auto& [name, node] : t.nodes)
        for (const auto& a : node.actors) consumed = consumed || a.queue == queue;
      if (!consumed)
        fail(nodes_entry.key_node.Mark(), nodes_entry.path,
             "no node consumes queue " + shown(queue) +
                 ", which the workflows' pipeline sends to (give a node { role: " + queue +
                 " } on that queue)");
    }
  }

  std::string source_;
  const std::set<std::string>& extra_;
};

}  // namespace

caf::expected<std::chrono::milliseconds> parse_duration(const std::string& text) {
  if (auto d = duration_of(text)) return *d;
  return make_error(errc::config_error,
                    "invalid duration " + shown(text) + " (" + duration_help + ")");
}

caf::expected<topology> load_topology_string(const std::string& yaml,
                                             const std::string& source_name,
                                             const std::set<std::string>& extra_processors) {
  try {
    return loader{source_name, extra_processors}.load(yaml);
  } catch (const config_failure& e) {
    return make_error(errc::config_error, e.text);
  } catch (const YAML::Exception& e) {  // not expected past the checks above: still one line
    return make_error(errc::config_error, source_name + ":" + where(e.mark) + ": " + e.msg);
  } catch (const std::exception& e) {
    return make_error(errc::config_error, source_name + ": " + e.what());
  }
}

caf::expected<topology> load_topology_file(const std::string& path,
                                           const std::set<std::string>& extra_processors) {
  std::string text;
  try {
    std::error_code ec;
    if (std::filesystem::is_directory(path, ec))
      return make_error(errc::config_error, path + ": cannot read file");
    std::ifstream in(path, std::ios::binary);
    if (!in) return make_error(errc::config_error, path + ": cannot read file");
    text.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
    if (in.bad()) return make_error(errc::config_error, path + ": cannot read file");
  } catch (const std::exception&) {
    return make_error(errc::config_error, path + ": cannot read file");
  }
  return load_topology_string(text, path, extra_processors);
}

caf::expected<std::string> effective_dsn(const database_config& db) {
  // Parsed by libpq, whichever form the DSN has: an invalid one is reported here
  // (without its password), and the password is set as a parameter, never appended.
  auto ci = conninfo::parse(db.dsn);
  if (!ci) return ci.error();
  if (db.password_file.empty()) return db.dsn;
  std::ifstream in(db.password_file);
  std::string password;
  std::getline(in, password);
  if (!in && password.empty())
    return make_error(errc::config_error,
                      "database.password_file: cannot read " + db.password_file);
  if (!password.empty() && password.back() == '\r') password.pop_back();
  ci->set("password", password);
  return ci->str();
}

}  // namespace postbox

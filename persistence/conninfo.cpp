// DSN handling through libpq's PQconninfoParse: parse either form into
// keyword/value pairs, change keys, render a quoted key=value string (or a URI).
#include "persistence/conninfo.hpp"

#include <libpq-fe.h>

#include <algorithm>
#include <cctype>
#include <memory>
#include <regex>

namespace postbox {

namespace {

bool is_secret_key(const std::string& key) {
  return key == "password" || key == "sslpassword";
}

std::string quote_value(const std::string& v) {
  std::string out = "'";
  for (char c : v) {
    if (c == '\\' || c == '\'') out += '\\';
    out += c;
  }
  return out + "'";
}

std::string percent_encode(const std::string& v) {
  static const char* hex = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : v) {
    if (std::isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~') {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += hex[c >> 4];
      out += hex[c & 15];
    }
  }
  return out;
}

std::string percent_decode(const std::string& v) {
  std::string out;
  for (size_t i = 0; i < v.size(); ++i) {
    if (v[i] == '%' && i + 2 < v.size() && std::isxdigit(static_cast<unsigned char>(v[i + 1])) &&
        std::isxdigit(static_cast<unsigned char>(v[i + 2]))) {
      out += static_cast<char>(std::stoi(v.substr(i + 1, 2), nullptr, 16));
      i += 2;
    } else {
      out += v[i];
    }
  }
  return out;
}

bool is_uri(const std::string& dsn) {
  return dsn.rfind("postgresql://", 0) == 0 || dsn.rfind("postgres://", 0) == 0;
}

bool all_digits(const std::string& v) {
  return !v.empty() && std::all_of(v.begin(), v.end(), [](char c) { return c >= '0' && c <= '9'; });
}

/// Password candidates of a DSN that libpq could not parse.
std::vector<std::string> guessed_secrets(const std::string& dsn) {
  std::vector<std::string> out;
  auto add = [&](const std::string& raw) {
    if (raw.empty()) return;
    out.push_back(raw);
    auto decoded = percent_decode(raw);
    if (decoded != raw) out.push_back(decoded);
  };
  if (is_uri(dsn)) {
    auto rest = dsn.substr(dsn.find("://") + 3);
    auto at = rest.find('@');
    auto end = rest.find_first_of("/?");
    if (at != std::string::npos && (end == std::string::npos || at < end)) {
      auto userinfo = rest.substr(0, at);
      if (auto colon = userinfo.find(':'); colon != std::string::npos)
        add(userinfo.substr(colon + 1));
    }
    std::regex query("[?&](?:ssl)?password=([^&]*)");
    for (auto it = std::sregex_iterator(dsn.begin(), dsn.end(), query);
         it != std::sregex_iterator(); ++it)
      add((*it)[1].str());
  }
  std::regex kv(R"((?:ssl)?password\s*=\s*('(?:[^'\\]|\\.)*'?|\S+))");
  for (auto it = std::sregex_iterator(dsn.begin(), dsn.end(), kv); it != std::sregex_iterator();
       ++it) {
    auto v = (*it)[1].str();
    out.push_back(v);
    if (!v.empty() && v.front() == '\'') {
      std::string unquoted;
      for (size_t i = 1; i < v.size(); ++i) {
        if (v[i] == '\\' && i + 1 < v.size()) {
          unquoted += v[++i];
        } else if (v[i] != '\'') {
          unquoted += v[i];
        }
      }
      out.push_back(unquoted);
    }
  }
  return out;
}

std::string replace_all(std::string text, std::vector<std::string> secrets) {
  // Longest first, so a secret that contains another is removed whole.
  std::sort(secrets.begin(), secrets.end(),
            [](const std::string& a, const std::string& b) { return a.size() > b.size(); });
  for (const auto& s : secrets) {
    if (s.empty()) continue;
    for (auto pos = text.find(s); pos != std::string::npos; pos = text.find(s, pos + 3))
      text.replace(pos, s.size(), "***");
  }
  return text;
}

}  // namespace

caf::expected<conninfo> conninfo::parse(const std::string& dsn) {
  char* errmsg = nullptr;
  std::unique_ptr<PQconninfoOption, void (*)(PQconninfoOption*)> opts{
      PQconninfoParse(dsn.c_str(), &errmsg), PQconninfoFree};
  if (!opts) {
    std::string why = errmsg ? errmsg : "out of memory";
    if (errmsg) PQfreemem(errmsg);
    while (!why.empty() && (why.back() == '\n' || why.back() == ' ')) why.pop_back();
    return make_error(errc::config_error, "invalid DSN: " + scrub_secrets(why, dsn));
  }
  conninfo out;
  for (auto* o = opts.get(); o->keyword; ++o)
    if (o->val) out.params_.emplace_back(o->keyword, o->val);
  return out;
}

std::optional<std::string> conninfo::get(const std::string& key) const {
  for (const auto& [k, v] : params_)
    if (k == key) return v;
  return std::nullopt;
}

void conninfo::set(const std::string& key, std::string value) {
  for (auto& [k, v] : params_)
    if (k == key) {
      v = std::move(value);
      return;
    }
  params_.emplace_back(key, std::move(value));
}

void conninfo::set_default(const std::string& key, std::string value) {
  if (!has(key)) params_.emplace_back(key, std::move(value));
}

void conninfo::erase(const std::string& key) {
  params_.erase(
      std::remove_if(params_.begin(), params_.end(), [&](const auto& p) { return p.first == key; }),
      params_.end());
}

void conninfo::add_keepalive_defaults() {
  set_default("keepalives", keepalive_defaults::keepalives);
  set_default("keepalives_idle", keepalive_defaults::idle_s);
  set_default("keepalives_interval", keepalive_defaults::interval_s);
  set_default("keepalives_count", keepalive_defaults::count);
  set_default("tcp_user_timeout", keepalive_defaults::user_timeout_ms);
  // A server whose packets go nowhere would otherwise hold a connect for the kernel's
  // SYN timeout (about two minutes), and every consumer loop with it.
  set_default("connect_timeout", keepalive_defaults::connect_timeout_s);
}

std::string conninfo::str() const {
  std::string out;
  for (const auto& [k, v] : params_) {
    if (!out.empty()) out += ' ';
    out += k + "=" + quote_value(v);
  }
  return out;
}

std::string conninfo::redacted() const {
  conninfo copy = *this;
  for (const auto& k : {"password", "sslpassword"})
    if (copy.has(k)) copy.set(k, "***");
  return copy.str();
}

std::vector<std::string> conninfo::secrets() const {
  std::vector<std::string> out;
  for (const auto& [k, v] : params_)
    if (is_secret_key(k) && !v.empty()) out.push_back(v);
  return out;
}

std::string conninfo::uri() const {
  std::string netloc;
  std::vector<std::string> query;
  auto host = get("host");
  auto port = get("port");
  // One plain host name or address goes into the authority; a list, a socket folder
  // or anything unusual goes into the query, which takes any value.
  bool host_in_netloc = host && !host->empty() && host->find_first_of(",/@") == std::string::npos &&
                        (!port || port->find(',') == std::string::npos);
  if (auto user = get("user")) {
    netloc += percent_encode(*user);
    if (auto pw = get("password")) netloc += ":" + percent_encode(*pw);
    netloc += "@";
  } else if (auto pw = get("password")) {
    query.push_back("password=" + percent_encode(*pw));
  }
  if (host_in_netloc) {
    netloc += host->find(':') != std::string::npos ? "[" + *host + "]" : percent_encode(*host);
    if (port && !port->empty()) netloc += ":" + percent_encode(*port);
  }
  for (const auto& [k, v] : params_) {
    if (k == "user" || k == "password" || k == "dbname") continue;
    if (host_in_netloc && (k == "host" || k == "port")) continue;
    query.push_back(k + "=" + percent_encode(v));
  }
  std::string out = "postgresql://" + netloc + "/";
  if (auto db = get("dbname")) out += percent_encode(*db);
  for (size_t i = 0; i < query.size(); ++i) out += (i == 0 ? "?" : "&") + query[i];
  return out;
}

std::string scrub_secrets(const std::string& text, const std::string& dsn) {
  std::vector<std::string> secrets = guessed_secrets(dsn);
  char* errmsg = nullptr;
  if (PQconninfoOption* opts = PQconninfoParse(dsn.c_str(), &errmsg)) {
    for (auto* o = opts; o->keyword; ++o)
      if (o->val && *o->val && is_secret_key(o->keyword)) secrets.emplace_back(o->val);
    PQconninfoFree(opts);
  }
  if (errmsg) PQfreemem(errmsg);
  return replace_all(text, std::move(secrets));
}

caf::expected<std::string> connection_string(const std::string& dsn,
                                             const std::string& application_name) {
  auto ci = conninfo::parse(dsn);
  if (!ci) return ci.error();
  ci->add_keepalive_defaults();
  if (!application_name.empty()) ci->set_default("application_name", application_name);
  return ci->str();
}

caf::expected<std::string> with_parameter(const std::string& dsn, const std::string& key,
                                          const std::string& value) {
  auto ci = conninfo::parse(dsn);
  if (!ci) return ci.error();
  ci->set(key, value);
  return ci->str();
}

std::string server_keepalive_settings(const std::string& connection_string) {
  auto ci = conninfo::parse(connection_string);
  if (!ci) return "";
  std::string sql;
  auto add = [&](const char* key, const char* setting) {
    auto v = ci->get(key);
    if (v && all_digits(*v)) sql += std::string("SET ") + setting + " = " + *v + "; ";
  };
  if (ci->get("keepalives").value_or("1") != "0") {
    add("keepalives_idle", "tcp_keepalives_idle");
    add("keepalives_interval", "tcp_keepalives_interval");
    add("keepalives_count", "tcp_keepalives_count");
  }
  add("tcp_user_timeout", "tcp_user_timeout");
  return sql;
}

}  // namespace postbox

// Connection parameters built with libpq's own parser, for both DSN forms
// (key=value and postgresql:// URIs): no connection string is ever made by
// appending text, and a password never reaches an error message or a log.
#pragma once

#include <caf/expected.hpp>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "messages/error.hpp"

namespace postbox {

/// TCP keepalive and tcp_user_timeout defaults of every connection (a key given in the
/// DSN wins): a dead peer is noticed in about 25 s on an idle connection and in 30 s when
/// sent data goes unacknowledged, on the client socket and, through the session settings
/// the session applies, on the server's.
struct keepalive_defaults {
  static constexpr const char* keepalives = "1";
  static constexpr const char* idle_s = "10";
  static constexpr const char* interval_s = "5";
  static constexpr const char* count = "3";
  static constexpr const char* user_timeout_ms = "30000";
  static constexpr const char* connect_timeout_s = "10";
};

class conninfo {
 public:
  /// Parses `dsn` (either form) with PQconninfoParse. The error names the problem
  /// libpq found, with any password scrubbed out.
  static caf::expected<conninfo> parse(const std::string& dsn);

  /// The value of `key`, if the DSN (or a later set) gave one.
  std::optional<std::string> get(const std::string& key) const;
  bool has(const std::string& key) const { return get(key).has_value(); }
  /// Sets `key`, replacing a value the DSN gave.
  void set(const std::string& key, std::string value);
  /// Sets `key` only when the DSN did not give it.
  void set_default(const std::string& key, std::string value);
  void erase(const std::string& key);

  /// Adds keepalives, keepalives_idle/interval/count, tcp_user_timeout and connect_timeout
  /// where absent.
  void add_keepalive_defaults();

  /// key='value' pairs, quoted and escaped for libpq.
  std::string str() const;
  /// A postgresql:// URI with the same parameters, percent-encoded.
  std::string uri() const;
  /// str() without secrets (password, sslpassword): safe to log.
  std::string redacted() const;

  /// The secret values (password, ...), for scrubbing messages.
  std::vector<std::string> secrets() const;

  const std::vector<std::pair<std::string, std::string>>& params() const { return params_; }

 private:
  std::vector<std::pair<std::string, std::string>> params_;  // in the order given
};

/// `text` with every secret of `dsn` replaced by "***". Works also when `dsn` does not
/// parse (the password is then found by its key= or URI user:password@ position).
std::string scrub_secrets(const std::string& text, const std::string& dsn);

/// The conninfo (key=value) a postbox connection uses: `dsn` parsed, keepalive
/// defaults added, application_name set unless the DSN gives one.
caf::expected<std::string> connection_string(const std::string& dsn,
                                             const std::string& application_name);

/// `dsn` with `key` set to `value` (key=value form out); the error as conninfo::parse.
caf::expected<std::string> with_parameter(const std::string& dsn, const std::string& key,
                                          const std::string& value);

/// The server-side settings that mirror the client's keepalive parameters of a
/// connection string (tcp_keepalives_idle, ..., tcp_user_timeout), as one SQL string of
/// SET statements; empty when none applies. Only digit values are used.
std::string server_keepalive_settings(const std::string& connection_string);

}  // namespace postbox

// How a client or a node connects to PostgreSQL.
#pragma once

#include <chrono>
#include <string>

namespace postbox {

struct session_options {
  /// Either form: key=value pairs or a postgresql:// URI. Parsed by libpq
  /// (persistence/conninfo.hpp); keepalive defaults are added where it gives none.
  std::string dsn;
  /// Sent as application_name: operators (and fault tests) find backends by it.
  std::string application_name = "postbox";
  /// Named prepared statements; turn off behind a transaction-mode pooler.
  bool prepared_statements = true;
  /// How long the one retry of an idempotent write waits for the server to accept
  /// a new connection (covers a server restart).
  std::chrono::milliseconds reconnect_wait{3000};
  /// The server ends a session that sits idle inside a transaction this long
  /// (0: server default). A frozen or partitioned node holding row locks in an
  /// open transaction would otherwise hide its messages from every other node.
  std::chrono::milliseconds idle_in_transaction_timeout{10000};
  /// The same per transaction (SET LOCAL), for a transaction-mode pooler where a
  /// session SET would land on other clients' connections. 0: not set.
  std::chrono::milliseconds local_idle_in_transaction_timeout{0};
  /// The server cancels any statement of this session running longer (0: server
  /// default, none). For connections that serve people (the HTTP endpoint): an
  /// answer late by more than this is an error instead.
  std::chrono::milliseconds statement_timeout{0};
  /// The same per transaction (SET LOCAL) behind a transaction-mode pooler; a
  /// single-statement body then runs in a transaction of its own. 0: not set.
  std::chrono::milliseconds local_statement_timeout{0};
  /// Mirror the connection's TCP keepalive and tcp_user_timeout parameters (postbox's
  /// defaults, or the DSN's) into the server's session settings, so the server also
  /// notices a dead or frozen client. Off behind a transaction-mode pooler, where a
  /// session SET would land on other clients' connections.
  bool server_keepalives = true;
  /// Every transaction of this connection is read-only (default_transaction_read_only):
  /// a read runs as one statement, one round trip, and still cannot write.
  bool read_only = false;
};

}  // namespace postbox

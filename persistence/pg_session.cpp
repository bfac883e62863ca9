// Connection lifecycle and the transaction runner: pqxx exceptions are
// translated into errc here, once, and dead connections are rebuilt.
#include "persistence/pg_session.hpp"

#include <thread>

#include "persistence/conninfo.hpp"
#include "persistence/detail/tx_context.hpp"

namespace postbox {

namespace {

bool is_connection_sqlstate(const std::string& state) {
  // 08xxx connection exceptions; 57P01-57P03 admin/crash shutdown, cannot connect now.
  return state.rfind("08", 0) == 0 || state == "57P01" || state == "57P02" || state == "57P03";
}

/// A statement prepared on this connection before a schema change (a user's ALTER TABLE
/// under a handler's `SELECT *`, a migration under a node's query): the database's
/// trouble, not the message's: the connection is renewed (see translate_current).
bool is_stale_plan(const pqxx::sql_error& e) {
  return e.sqlstate() == "0A000" &&
         std::string(e.what()).find("cached plan must not change result type") != std::string::npos;
}

bool is_transient_sqlstate(const std::string& state) {
  // 53xxx insufficient resources (disk full, out of memory, too many connections),
  // 57014 query cancelled (statement_timeout, an operator), 55P03 lock not
  // available, 58xxx system errors: the server's trouble, not the statement's.
  return state.rfind("53", 0) == 0 || state.rfind("58", 0) == 0 || state == "57014" ||
         state == "55P03";
}

/// Translates the exception in flight; sets `dead` when the connection is unusable.
/// Messages are scrubbed of the DSN's password (libpq may echo conninfo pieces).
/// `writes`: the transaction may write, so 25006 (read-only transaction) means the
/// server is a standby now — after a failover a connection can land on the old primary
/// or, without target_session_attrs=read-write, on a standby: drop it and reconnect,
/// never charging the message. In a read-only transaction 25006 is the statement's fault.
caf::error translate_current(bool& dead, const std::string& dsn, bool writes = false) {
  auto clean = [&](const std::string& text) { return scrub_secrets(text, dsn); };
  try {
    throw;
  } catch (const pqxx::in_doubt_error& e) {
    dead = true;
    return make_error(errc::connection_lost,
                      clean(std::string("commit outcome unknown: ") + e.what()));
  } catch (const pqxx::broken_connection& e) {
    dead = true;
    return make_error(errc::connection_lost, clean(e.what()));
  } catch (const pqxx::transaction_rollback& e) {
    return make_error(errc::serialization_failure, clean(e.what()));
  } catch (const pqxx::integrity_constraint_violation& e) {
    return make_error(errc::constraint_violation, clean(e.what()));
  } catch (const pqxx::sql_error& e) {
    if (is_connection_sqlstate(e.sqlstate()) || (writes && e.sqlstate() == "25006")) {
      dead = true;
      return make_error(errc::connection_lost, clean(e.what()));
    }
    if (is_stale_plan(e)) {
      // Every statement prepared on this connection may be stale: a new connection
      // prepares them afresh, and an idempotent transaction (retry_policy::once) runs
      // again on it at once. Never charged to a message either way.
      dead = true;
      return make_error(errc::transient,
                        e.sqlstate() + ": " + clean(e.what()) + " (a schema change)");
    }
    if (is_transient_sqlstate(e.sqlstate()))
      return make_error(errc::transient, e.sqlstate() + ": " + clean(e.what()));
    return make_error(errc::logic_error, e.sqlstate() + ": " + clean(e.what()));
  } catch (const std::exception& e) {
    return make_error(errc::logic_error, clean(e.what()));
  } catch (...) {
    return make_error(errc::logic_error, "unknown exception");
  }
}

}  // namespace

pqxx::connection& pg_session::impl::ensure() {
  if (!conn) {
    if (conninfo_error) throw std::invalid_argument(describe(conninfo_error));
    auto c = std::make_unique<pqxx::connection>(conninfo);
    // A dead connection stays dead: pqxx's silent reconnect could run a retried
    // statement in autocommit. We rebuild connections ourselves.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
    c->inhibit_reactivation(true);
#pragma GCC diagnostic pop
    // No JIT: postbox's statements are short, and a generic plan of the claim over a
    // large visible backlog is estimated expensive enough to be compiled on every
    // execution (~200 ms each where the claim itself takes < 1 ms; make bench-actors).
    std::string settings = server_settings + "SET jit = off;";
    if (opts.read_only) settings += "SET default_transaction_read_only = on;";
    if (opts.idle_in_transaction_timeout.count() > 0)
      settings += "SET idle_in_transaction_session_timeout = " +
                  std::to_string(opts.idle_in_transaction_timeout.count()) + ";";
    if (opts.statement_timeout.count() > 0)
      settings += "SET statement_timeout = " + std::to_string(opts.statement_timeout.count()) + ";";
    if (!settings.empty()) {
      pqxx::nontransaction n{*c};
      n.exec(settings);
    }
    if (opts.prepared_statements)
      for (const auto& q : sql::queries()) c->prepare(q.name, q.text);
    conn = std::move(c);
  }
  return *conn;
}

pg_session::pg_session(session_options opts) : impl_(std::make_unique<impl>()) {
  if (auto ci = connection_string(opts.dsn, opts.application_name)) {
    impl_->conninfo = std::move(*ci);
    if (opts.server_keepalives) impl_->server_settings = server_keepalive_settings(impl_->conninfo);
  } else {
    impl_->conninfo_error = std::move(ci.error());
  }
  impl_->opts = std::move(opts);
}

pg_session::~pg_session() = default;

const session_options& pg_session::options() const {
  return impl_->opts;
}

caf::error pg_session::connect() {
  if (impl_->conninfo_error) return impl_->conninfo_error;
  try {
    impl_->ensure();
    return {};
  } catch (...) {
    bool dead = false;
    auto err = translate_current(dead, impl_->opts.dsn);
    impl_->drop();
    return err;
  }
}

int pg_session::backend_pid() const {
  return impl_->conn ? impl_->conn->backendpid() : 0;
}

namespace {

/// Runs `fn` in the open transaction `w`; commits when it returns no error.
caf::error run_in(pqxx::transaction_base& w, pg_session::impl& s,
                  const std::function<caf::error(tx_context&)>& fn) {
  if (s.opts.local_idle_in_transaction_timeout.count() > 0)
    w.exec("SET LOCAL idle_in_transaction_session_timeout = " +
           std::to_string(s.opts.local_idle_in_transaction_timeout.count()));
  if (s.opts.local_statement_timeout.count() > 0)
    w.exec("SET LOCAL statement_timeout = " +
           std::to_string(s.opts.local_statement_timeout.count()));
  tx_context tx{w, s};
  auto err = fn(tx);
  if (!err) w.commit();
  return err;
}

}  // namespace

caf::error pg_session::transact(retry_policy policy,
                                const std::function<caf::error(tx_context&)>& fn, tx_kind kind) {
  if (impl_->conninfo_error) return impl_->conninfo_error;
  // Autocommit has no transaction for SET LOCAL to bound.
  if (kind == tx_kind::single_statement && impl_->opts.local_statement_timeout.count() > 0)
    kind = tx_kind::transaction;
  for (int attempt = 0;; ++attempt) {
    bool dead = false;
    bool begun = false;  // false: nothing of ours reached the server, a retry is always safe
    caf::error err;
    try {
      if (attempt > 0) {
        // The retry: give a restarting server a moment to accept connections.
        auto deadline = std::chrono::steady_clock::now() + impl_->opts.reconnect_wait;
        for (;;) {
          try {
            impl_->ensure();
            break;
          } catch (const pqxx::broken_connection&) {
            impl_->drop();
            if (std::chrono::steady_clock::now() >= deadline) throw;
            std::this_thread::sleep_for(std::chrono::milliseconds(50));
          }
        }
      }
      if (kind == tx_kind::single_statement) {
        pqxx::nontransaction n{impl_->ensure()};
        begun = true;
        tx_context tx{n, *impl_};
        err = fn(tx);
      } else if (kind == tx_kind::read_only) {
        pqxx::read_transaction r{impl_->ensure()};
        begun = true;
        err = run_in(r, *impl_, fn);
      } else {
        pqxx::work w{impl_->ensure()};
        begun = true;
        if (kind == tx_kind::relaxed) w.exec("SET LOCAL synchronous_commit = off");
        err = run_in(w, *impl_, fn);
      }
      // On error `w` rolls back when it goes out of scope.
    } catch (...) {
      err = translate_current(dead, impl_->opts.dsn,
                              kind != tx_kind::read_only && !impl_->opts.read_only);
    }
    if (!dead) return err;
    impl_->drop();
    if (attempt >= 1 || (begun && policy == retry_policy::never)) return err;
  }
}

caf::error tx_context::savepoint(const std::function<caf::error(tx_context&)>& fn) {
  // Plain statements on this transaction, not pqxx::subtransaction: 6.4 begins one
  // lazily, on its first exec(), so a body of exec_prepared calls would run without
  // its SAVEPOINT and a failure would leave the whole transaction aborted. Statements
  // run through exec_prepared / exec_params leave the pqxx transaction usable after
  // a failure (the server's, rolled back to the savepoint, is usable again too).
  work_.exec("SAVEPOINT postbox_savepoint");
  caf::error err;
  try {
    err = fn(*this);
    if (!err) {
      work_.exec("RELEASE SAVEPOINT postbox_savepoint");
      return {};
    }
  } catch (...) {
    bool dead = false;
    err = translate_current(dead, session_.opts.dsn, !session_.opts.read_only);
    if (dead) throw;
  }
  work_.exec("ROLLBACK TO SAVEPOINT postbox_savepoint");
  return err;
}

caf::error pg_session::execute_script(const std::string& sql) {
  if (impl_->conninfo_error) return impl_->conninfo_error;
  try {
    pqxx::nontransaction n{impl_->ensure()};
    n.exec(sql);
    return {};
  } catch (...) {
    bool dead = false;
    auto err = translate_current(dead, impl_->opts.dsn);
    if (dead) impl_->drop();
    return err;
  }
}

namespace detail {

std::string pg_text_array(const std::vector<std::optional<std::string>>& v) {
  std::string out = "{";
  for (size_t i = 0; i < v.size(); ++i) {
    if (i) out += ',';
    if (!v[i]) {
      out += "NULL";
      continue;
    }
    out += '"';
    for (char ch : *v[i]) {
      if (ch == '"' || ch == '\\') out += '\\';
      out += ch;
    }
    out += '"';
  }
  return out + "}";
}

std::string pg_int_array(const std::vector<int64_t>& v) {
  std::string out = "{";
  for (size_t i = 0; i < v.size(); ++i) {
    if (i) out += ',';
    out += std::to_string(v[i]);
  }
  return out + "}";
}

}  // namespace detail
}  // namespace postbox

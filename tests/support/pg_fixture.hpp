// Test support: a fresh, migrated database per test on the harness's PostgreSQL
// (or on POSTBOX_TEST_DSN), and small SQL helpers for assertions and faults.
#pragma once

#include <string>

namespace postbox::test {

/// The server DSN: $POSTBOX_TEST_DSN, else PGTEST_DSN from $POSTBOX_PGTEST_STATE; as a
/// postgresql:// URI when POSTBOX_TEST_DSN_FORM=uri.
std::string server_dsn();

/// The same connection parameters as a postgresql:// URI / as key='value' pairs
/// (server_dsn() hands out the URI when POSTBOX_TEST_DSN_FORM=uri).
std::string as_uri(const std::string& dsn);
std::string as_key_value(const std::string& dsn);

/// `dsn` pointed at database `dbname`, in the same form (URI or key=value).
std::string with_database(const std::string& dsn, const std::string& dbname);

/// Creates an empty database with a unique name; returns its DSN (the form of server_dsn()).
std::string create_database(const std::string& label);

/// create_database + migrations applied.
std::string create_migrated_database(const std::string& label);

/// Runs SQL (autocommit) and returns the first column of the first row as text ("" if none).
std::string scalar(const std::string& dsn, const std::string& sql);
long long count(const std::string& dsn, const std::string& sql);
void exec(const std::string& dsn, const std::string& sql);

/// pg_terminate_backend on every backend of `application_name` in dsn's database; how many.
int terminate_backends(const std::string& dsn, const std::string& application_name);

/// A fresh 0755 folder under /tmp, owned by `postgres` when we are root, for what a
/// server or pooler running as that user writes (the build tree may sit below a 0700
/// folder it cannot traverse). The caller removes it.
std::string make_server_dir(const std::string& label);

/// A path in the build tree: $POSTBOX_BIN_DIR/name.
std::string bin_path(const std::string& name);

}  // namespace postbox::test

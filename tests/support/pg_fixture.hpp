// Test support: a fresh, migrated database per test on the harness's PostgreSQL
// (or on POSTBOX_TEST_DSN), and small SQL helpers for assertions and faults.
#pragma once

#include <string>

namespace postbox::test {

/// The server DSN: $POSTBOX_TEST_DSN, else PGTEST_DSN from $POSTBOX_PGTEST_STATE.
std::string server_dsn();

/// Creates an empty database with a unique name; returns its DSN.
std::string create_database(const std::string& label);

/// create_database + migrations applied.
std::string create_migrated_database(const std::string& label);

/// Runs SQL (autocommit) and returns the first column of the first row as text ("" if none).
std::string scalar(const std::string& dsn, const std::string& sql);
long long count(const std::string& dsn, const std::string& sql);
void exec(const std::string& dsn, const std::string& sql);

/// pg_terminate_backend on every backend of `application_name` in dsn's database; how many.
int terminate_backends(const std::string& dsn, const std::string& application_name);

/// A path in the build tree: $POSTBOX_BIN_DIR/name.
std::string bin_path(const std::string& name);

}  // namespace postbox::test

// The migrator: one transaction holding pg_advisory_xact_lock, so it also works
// through a transaction-mode pooler (a session lock would leak there).
#include "persistence/migrator.hpp"

#include <algorithm>
#include <cstdlib>
#include <set>
#include <string>

#include "persistence/detail/tx_context.hpp"
#include "postbox/version.hpp"

namespace postbox {

int embedded_schema_version() {
  int highest = 0;
  for (const auto& m : sql::migrations()) highest = std::max(highest, std::atoi(m.name));
  return highest;
}

caf::expected<migration_report> migrate(pg_session& session, const std::string& program) {
  const int known = embedded_schema_version();
  migration_report report;
  auto err = session.transact(retry_policy::once, [&](tx_context& tx) -> caf::error {
    report = migration_report{};
    auto& w = tx.work();
    w.exec(sql::query("migrate_lock"));
    w.exec(sql::query("migrate_bootstrap"));
    std::set<int> done;
    for (const auto& row : w.exec(sql::query("migrate_applied"))) done.insert(row[0].as<int>());
    if (!done.empty() && *done.rbegin() > known)
      return make_error(errc::schema_newer, "database schema " + std::to_string(*done.rbegin()) +
                                                " is newer than this " + program + " (" +
                                                library_version + ", schema " +
                                                std::to_string(known) + "): upgrade the binaries");
    for (const auto& m : sql::migrations()) {
      int version = std::atoi(m.name);
      if (version <= 0)
        return make_error(errc::logic_error, std::string("bad migration name ") + m.name);
      if (!done.count(version)) {
        w.exec(m.text);
        w.exec_params(sql::query("migrate_record"), version, std::string(m.name));
        report.applied.emplace_back(m.name);
        done.insert(version);
      }
      report.current_version = std::max(report.current_version, version);
    }
    return {};
  });
  if (err) return err;
  return report;
}

}  // namespace postbox

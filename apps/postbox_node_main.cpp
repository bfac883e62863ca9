// postbox-node: runs one node of a topology. The actor pipeline (consumers,
// orchestrator, file_batch, callback, outbox, reaper) is not built yet: until it
// is, this binary only migrates the schema and says so.
#include <cstdlib>
#include <iostream>
#include <string>

#include "persistence/migrator.hpp"
#include "persistence/pg_session.hpp"

int main(int argc, char** argv) {
  std::string dsn = std::getenv("POSTBOX_DSN") ? std::getenv("POSTBOX_DSN") : "";
  for (int i = 1; i + 1 < argc; ++i)
    if (std::string(argv[i]) == "--dsn") dsn = argv[i + 1];
  if (dsn.empty()) {
    std::cerr << "postbox-node: no database: pass --dsn or set POSTBOX_DSN\n";
    return 2;
  }
  postbox::pg_session session{{dsn, "postbox-node"}};
  auto report = postbox::migrate(session);
  if (!report) {
    std::cerr << "postbox-node: migrate failed: " << postbox::describe(report.error()) << "\n";
    return 1;
  }
  std::cerr << "postbox-node: schema at version " << report->current_version
            << "; the node runtime (actors) is not built yet\n";
  return 3;
}

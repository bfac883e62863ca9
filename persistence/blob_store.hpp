// Uploaded file contents, so a node on any host can read a file with only the DSN.
#pragma once

#include <caf/expected.hpp>
#include <string>

#include "persistence/pg_session.hpp"

namespace postbox {

class blob_store {
 public:
  explicit blob_store(pg_session& session) : session_(session) {}

  /// Stores the content; returns the new blob id. Not retried blindly (an insert).
  caf::expected<std::string> put(const std::string& name, const std::string& content);

 private:
  pg_session& session_;
};

}  // namespace postbox

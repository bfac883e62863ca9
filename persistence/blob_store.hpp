// Uploaded file contents, so a node on any host can read a file with only the DSN.
#pragma once

#include <caf/expected.hpp>
#include <functional>
#include <optional>
#include <string>

#include "persistence/pg_session.hpp"

namespace postbox {

class tx_context;

/// One file to upload: its id is chosen by the caller (it goes into the execution's
/// message before the blobs are written), its sha256 computed while it was read.
struct blob_upload {
  std::string id;
  std::string name;
  std::string sha256;  // hex
  std::string content;
};

/// The next blob to store, nullopt when there are no more; an error stops the upload.
using blob_source = std::function<caf::expected<std::optional<blob_upload>>()>;

class blob_store {
 public:
  explicit blob_store(pg_session& session) : session_(session) {}

  /// Stores the content; returns the new blob id. Not retried blindly (an insert).
  caf::expected<std::string> put(const std::string& name, const std::string& content);

  /// Streams every blob of `next` into the table with one COPY inside `tx`, one at a
  /// time (memory holds one file, whatever the upload's size). Returns how many.
  static caf::expected<int64_t> put_all(tx_context& tx, const blob_source& next,
                                        const std::string& execution_id);

 private:
  pg_session& session_;
};

}  // namespace postbox

// Processors: what a file_batch actor runs on each file of an execution (built-ins
// checksum, wordcount, exec, chaos, plus user classes registered by name).
#pragma once

#include <caf/expected.hpp>
#include <cstddef>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>

namespace postbox {

struct file_input {
  /// Identity of the file in the execution (a path, or "blob:<id>").
  std::string key;
  /// A readable local path with the content (a blob is materialized by the caller).
  std::string path;
  /// Display name used for glob matching (basename of the original path / blob name).
  std::string name;
};

struct processor_outcome {
  bool ok = false;
  std::string result_json;  // a JSON object when ok
  std::string error;        // why it failed, when !ok
};

class processor {
 public:
  virtual ~processor() = default;
  /// Never throws; a failure of this file is an outcome, not an exception.
  /// The built-ins keep no per-call state, so one instance may serve several threads at once.
  virtual processor_outcome process(const file_input& in) = 0;
};

using processor_factory =
    std::function<caf::expected<std::unique_ptr<processor>>(const std::string& options_json)>;

class processor_registry {
 public:
  /// The built-ins: checksum, wordcount, exec, chaos.
  static processor_registry with_builtins();
  /// Users register their own C++ class; a later add of the same name replaces the earlier one.
  void add(const std::string& name, processor_factory f);
  bool contains(const std::string& name) const;
  std::set<std::string> names() const;
  /// Builds a processor from its options (a JSON object text); errors name the bad option.
  /// An empty `options_json` is passed to the factory as "{}". A factory that throws or
  /// returns null yields an error instead. All errors are errc::invalid_argument.
  caf::expected<std::unique_ptr<processor>> create(const std::string& name,
                                                   const std::string& options_json) const;

 private:
  std::map<std::string, processor_factory> factories_;
};

namespace detail {

// The built-in factories, one per .cpp; with_builtins() registers them.
caf::expected<std::unique_ptr<processor>> make_checksum_processor(const std::string& options_json);
caf::expected<std::unique_ptr<processor>> make_wordcount_processor(const std::string& options_json);
caf::expected<std::unique_ptr<processor>> make_exec_processor(const std::string& options_json);
caf::expected<std::unique_ptr<processor>> make_chaos_processor(const std::string& options_json);

/// For processors without options: "" and "{}" pass; any key is an error naming it.
caf::error expect_no_options(const std::string& processor_name, const std::string& options_json);

/// Streams the regular file at `path` to `chunk` in blocks; returns "" or why it failed
/// ("cannot open PATH: reason", "cannot read PATH: reason", "PATH is not a regular file").
std::string read_file_chunks(const std::string& path,
                             const std::function<void(const char* data, std::size_t size)>& chunk);

/// `text` with invalid UTF-8 replaced by U+FFFD and NUL bytes dropped, so error texts built
/// from program output or file names can be stored in PostgreSQL text/JSON columns.
std::string sanitize_text(const std::string& text);

}  // namespace detail

}  // namespace postbox

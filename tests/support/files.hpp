// Test support for files: a fresh folder per test under the build tree, writing and
// reading whole files, and paths into the source tree (examples, scripts, programs).
#pragma once

#include <string>

namespace postbox::test {

/// A fresh folder under the build tree for one test's files.
std::string make_temp_dir(const std::string& label);

/// Writes `content` to `path` (creating its folders); returns `path`.
std::string write_file(const std::string& path, const std::string& content);

/// The whole of `path`; empty when it cannot be read.
std::string read_text(const std::string& path);

/// `rel` under the source tree: $POSTBOX_SOURCE_DIR (set by CTest), else the tree
/// this file was compiled from.
std::string source_path(const std::string& rel);

}  // namespace postbox::test

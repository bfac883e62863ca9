#include "support/files.hpp"

#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "support/pg_fixture.hpp"

namespace postbox::test {

std::string make_temp_dir(const std::string& label) {
  static int counter = 0;
  auto dir = std::filesystem::path(bin_path("test-tmp")) /
             (label + "_" + std::to_string(getpid()) + "_" + std::to_string(counter++));
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  return dir.string();
}

std::string write_file(const std::string& path, const std::string& content) {
  std::filesystem::create_directories(std::filesystem::path(path).parent_path());
  std::ofstream(path, std::ios::binary) << content;
  return path;
}

std::string read_text(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

std::string source_path(const std::string& rel) {
  std::string root;
  if (const char* dir = std::getenv("POSTBOX_SOURCE_DIR"); dir && *dir)
    root = dir;
  else
    root = std::filesystem::path(__FILE__).parent_path().parent_path().parent_path().string();
  while (root.size() > 1 && root.back() == '/') root.pop_back();
  return root + "/" + rel;
}

}  // namespace postbox::test

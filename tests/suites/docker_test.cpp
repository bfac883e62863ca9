// The Docker files without a Docker engine: docker/docker-compose.yaml passes
// `docker-compose config` (and a broken copy does not), names every service and the postgres
// healthcheck, docker/cluster.yaml, the topology it mounts, loads with the strict loader, and
// the runtime image's apt-get list installs every shared library the built binaries load
// (ldd, then dpkg -S: each library's Debian package).
#define CAF_SUITE docker
#include <sys/wait.h>
#include <unistd.h>

#include <caf/test/unit_test.hpp>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "actors/runtime/child_process.hpp"
#include "config/topology.hpp"
#include "support/files.hpp"
#include "support/pg_fixture.hpp"
#include "support/shell.hpp"

using namespace postbox;
using postbox::test::read_text;
using postbox::test::source_path;

namespace {

/// `docker-compose -f FILE config`; never needs a Docker engine.
test::shell_result compose_config(const std::string& file) {
  return test::run_shell("docker-compose -f " + test::shell_quote(file) + " config");
}

/// True when docker-compose can run; otherwise says why the check is skipped, and fails in CI
/// (where `make deps` installs it).
bool have_docker_compose() {
  if (bool(find_executable("docker-compose"))) return true;
  const char* ci = std::getenv("CI");
  const bool in_ci = ci && std::string(ci) == "true";
  CAF_MESSAGE((in_ci ? "docker-compose is missing in CI (make deps installs the Debian package)"
                     : "skipped: docker-compose is missing (apt-get install docker-compose)"));
  CAF_CHECK(!in_ci);
  return false;
}

/// Sets an environment variable for its lifetime and restores the previous value.
class scoped_env {
 public:
  scoped_env(std::string name, const std::string& value) : name_(std::move(name)) {
    if (const char* old = std::getenv(name_.c_str())) old_ = old;
    setenv(name_.c_str(), value.c_str(), 1);
  }
  ~scoped_env() {
    if (old_)
      setenv(name_.c_str(), old_->c_str(), 1);
    else
      unsetenv(name_.c_str());
  }
  scoped_env(const scoped_env&) = delete;
  scoped_env& operator=(const scoped_env&) = delete;

 private:
  std::string name_;
  std::optional<std::string> old_;
};

bool contains(const std::string& haystack, const std::string& needle) {
  bool ok = haystack.find(needle) != std::string::npos;
  if (!ok) CAF_MESSAGE("missing '" << needle << "'");
  return ok;
}

/// Whitespace-separated words of `s`.
std::vector<std::string> words(const std::string& s) {
  std::istringstream in(s);
  std::vector<std::string> out;
  for (std::string w; in >> w;) out.push_back(w);
  return out;
}

/// The packages the Dockerfile's runtime stage installs: the words after
/// `apt-get install` in its RUN command (options and line continuations left out).
std::set<std::string> runtime_packages(const std::string& dockerfile) {
  std::set<std::string> out;
  const auto stage = dockerfile.find(" AS runtime");
  if (stage == std::string::npos) return out;
  const auto install = dockerfile.find("apt-get install", stage);
  if (install == std::string::npos) return out;
  const auto end = dockerfile.find("&&", install);
  for (const auto& w :
       words(dockerfile.substr(install + 15, end == std::string::npos ? end : end - install - 15)))
    if (w != "\\" && w[0] != '-') out.insert(w);
  return out;
}

/// soname -> resolved path, from `ldd BINARY` ("libx.so.1 => /lib/.../libx.so.1 (0x...)").
std::map<std::string, std::string> ldd(const std::string& binary) {
  std::map<std::string, std::string> out;
  auto r = test::run_shell("ldd " + test::shell_quote(binary));
  CAF_REQUIRE_EQUAL(r.exit_code, 0);
  std::istringstream in(r.output);
  for (std::string line; std::getline(in, line);) {
    auto w = words(line);
    if (w.size() >= 3 && w[1] == "=>") {
      if (w[2] == "not") CAF_FAIL(binary << ": " << line);
      out[w[0]] = w[2];
    }
  }
  return out;
}

/// The sonames `binary` needs itself (its DT_NEEDED entries).
std::set<std::string> needed(const std::string& binary) {
  std::set<std::string> out;
  auto r = test::run_shell("readelf -d " + test::shell_quote(binary));
  CAF_REQUIRE_EQUAL(r.exit_code, 0);
  std::istringstream in(r.output);
  for (std::string line; std::getline(in, line);) {
    auto open = line.find("(NEEDED)");
    auto lb = line.find('[');
    auto rb = line.find(']');
    if (open != std::string::npos && lb != std::string::npos && rb > lb)
      out.insert(line.substr(lb + 1, rb - lb - 1));
  }
  return out;
}

/// The Debian package owning `path` ("" if none): dpkg -S, also under /usr (merged /usr:
/// ldd says /lib/..., dpkg may know /usr/lib/...), and for the symlink's target.
std::string package_of(const std::string& path) {
  std::vector<std::string> tries = {path, "/usr" + path};
  std::error_code ec;
  auto real = std::filesystem::canonical(path, ec).string();
  if (!ec) tries.insert(tries.end(), {real, "/usr" + real});
  for (const auto& p : tries) {
    auto r = test::run_shell("dpkg -S " + test::shell_quote(p) + " 2>/dev/null");
    if (r.exit_code == 0) return r.output.substr(0, r.output.find(':'));
  }
  return "";
}

/// The packages `roots` pull in with apt (themselves and their Depends / Pre-Depends,
/// recursively), as this machine's dpkg database (Debian bookworm, as the image) says.
std::set<std::string> with_dependencies(const std::set<std::string>& roots) {
  std::set<std::string> seen;
  std::vector<std::string> todo(roots.begin(), roots.end());
  while (!todo.empty()) {
    auto pkg = todo.back();
    todo.pop_back();
    if (!seen.insert(pkg).second) continue;
    auto r = test::run_shell("dpkg-query -W -f='${Depends}, ${Pre-Depends}' " +
                             test::shell_quote(pkg) + " 2>/dev/null");
    if (r.exit_code != 0) continue;  // a virtual package (libgcc1): its provider is listed too
    std::string deps = r.output;
    for (char& c : deps)
      if (c == ',' || c == '|') c = ' ';
    bool in_version = false;
    for (const auto& w : words(deps)) {
      if (w[0] == '(') in_version = true;
      if (!in_version) todo.push_back(w.substr(0, w.find(':')));
      if (w.back() == ')') in_version = false;
    }
  }
  return seen;
}

/// In debian:bookworm-slim already (apt and dpkg need them), so not listed in the Dockerfile.
const std::set<std::string> base_image_packages = {"libc6", "libgcc-s1", "libstdc++6"};

}  // namespace

CAF_TEST(the runtime image installs every library the binaries load) {
  const auto listed = runtime_packages(read_text(source_path("docker/Dockerfile")));
  CAF_MESSAGE("runtime stage installs: " << caf::deep_to_string(listed));
  CAF_REQUIRE(listed.count("ca-certificates") == 1);
  const auto installed = with_dependencies(listed);
  int libraries = 0;
  for (const std::string bin : {"postbox", "postbox-node", "postbox-webhook-sink"}) {
    const auto path = test::bin_path(bin);
    const auto direct = needed(path);
    CAF_CHECK(direct.count("libcaf_core.so.0.17.6") == 1);
    for (const auto& [soname, lib] : ldd(path)) {
      ++libraries;
      const auto pkg = package_of(lib);
      if (pkg.empty()) {
        CAF_ERROR(bin << ": " << lib << " belongs to no Debian package");
        continue;
      }
      if (base_image_packages.count(pkg)) continue;
      // What a binary links itself is listed by name; what those libraries load comes
      // with them as a dependency of a listed package.
      if (direct.count(soname)) {
        if (!listed.count(pkg))
          CAF_ERROR(bin << " loads " << soname << " (" << pkg
                        << "), not in docker/Dockerfile's runtime apt-get install");
      } else if (!installed.count(pkg)) {
        CAF_ERROR(bin << " loads " << soname << " (" << pkg
                      << "), which no package of docker/Dockerfile's runtime stage pulls in");
      }
    }
  }
  CAF_CHECK_GREATER(libraries, 20);
}

CAF_TEST(the compose file is valid and names every service) {
  if (!have_docker_compose()) return;
  const std::string file = source_path("docker/docker-compose.yaml");
  auto r = compose_config(file);
  CAF_MESSAGE("docker-compose config: exit " << r.exit_code);
  if (r.exit_code != 0) CAF_MESSAGE(r.output);
  CAF_CHECK_EQUAL(r.exit_code, 0);
  for (const char* service : {"postgres:", "migrate:", "node-a:", "node-b:", "webhook-sink:"})
    CAF_CHECK(contains(r.output, std::string("  ") + service));
  CAF_CHECK(contains(r.output, "healthcheck:"));
  CAF_CHECK(contains(r.output, "pg_isready"));
  CAF_CHECK(contains(r.output, "condition: service_healthy"));
  CAF_CHECK(contains(r.output, "condition: service_completed_successfully"));
  CAF_CHECK(contains(r.output, "dockerfile: docker/Dockerfile"));
  CAF_CHECK(contains(r.output, "/etc/postbox/cluster.yaml:ro"));
}

CAF_TEST(a broken compose file is rejected) {
  if (!have_docker_compose()) return;
  std::string yaml = read_text(source_path("docker/docker-compose.yaml"));
  const auto at = yaml.find("\nservices:");
  CAF_REQUIRE(at != std::string::npos);
  yaml.replace(at, 10, "\nservics:");
  std::string dir = (std::filesystem::temp_directory_path() / "postbox-docker-XXXXXX").string();
  CAF_REQUIRE(mkdtemp(dir.data()) != nullptr);
  const std::string file = dir + "/docker-compose.yaml";
  std::ofstream(file, std::ios::binary) << yaml;
  auto r = compose_config(file);
  std::filesystem::remove_all(dir);
  CAF_MESSAGE("broken copy: exit " << r.exit_code << ": " << r.output);
  CAF_CHECK_NOT_EQUAL(r.exit_code, 0);
  CAF_CHECK(contains(r.output, "servics"));
}

CAF_TEST(the compose cluster topology loads) {
  scoped_env dsn("POSTBOX_DSN", "host=postgres port=5432 dbname=postgres");
  scoped_env url("POSTBOX_WEBHOOK_URL", "http://webhook-sink:8089/hook");
  auto t = load_topology_file(source_path("docker/cluster.yaml"));
  if (!t) CAF_FAIL("docker/cluster.yaml: " << describe(t.error()));
  CAF_CHECK_EQUAL(t->database.dsn, "host=postgres port=5432 dbname=postgres");
  CAF_CHECK_EQUAL(t->webhooks.url, "http://webhook-sink:8089/hook");
  CAF_CHECK_EQUAL(t->workflows.count("docs"), 1u);
  CAF_CHECK_EQUAL(t->workflows.count("words"), 1u);
  auto* a = t->node("a");
  auto* b = t->node("b");
  CAF_REQUIRE(a != nullptr);
  CAF_REQUIRE(b != nullptr);
  CAF_CHECK_EQUAL(a->host, "node-a");
  CAF_CHECK_EQUAL(b->host, "node-b");
  CAF_CHECK_EQUAL(a->actors.size(), 5u);
  CAF_CHECK_EQUAL(b->actors.size(), 3u);
}

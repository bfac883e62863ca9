// The Docker files without a Docker engine: docker/docker-compose.yaml passes
// `docker-compose config` (and a broken copy does not), names every service and the postgres
// healthcheck, and docker/cluster.yaml, the topology it mounts, loads with the strict loader.
#define CAF_SUITE docker
#include <sys/wait.h>
#include <unistd.h>

#include <caf/test/unit_test.hpp>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <optional>
#include <sstream>
#include <string>

#include "actors/runtime/child_process.hpp"
#include "config/topology.hpp"
#include "support/files.hpp"
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

}  // namespace

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

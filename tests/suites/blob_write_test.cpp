// An uploaded blob is written to a temporary file for the processor. A write that
// fails (a full disk, a temp dir that is not a directory) is a retryable failure:
// the batch is nacked and no result is recorded, least of all a wrong checksum.
#define CAF_SUITE blob_write
#include <sys/resource.h>

#include <caf/test/unit_test.hpp>
#include <csignal>
#include <cstdlib>

#include "persistence/blob_store.hpp"
#include "support/pipeline_fixture.hpp"
#include "support/values.hpp"

using namespace postbox;
using postbox::test::contains;
using postbox::test::value_of;
using namespace std::chrono_literals;

namespace {

/// Files this process writes may grow to `bytes` at most; writes past it fail with
/// EFBIG (SIGXFSZ ignored), as root too. Restored when it goes out of scope.
struct file_size_limit {
  rlimit old{};
  void (*old_handler)(int) = nullptr;
  explicit file_size_limit(rlim_t bytes) {
    CAF_REQUIRE_EQUAL(::getrlimit(RLIMIT_FSIZE, &old), 0);
    old_handler = std::signal(SIGXFSZ, SIG_IGN);
    rlimit lim = old;
    lim.rlim_cur = bytes;
    CAF_REQUIRE_EQUAL(::setrlimit(RLIMIT_FSIZE, &lim), 0);
  }
  ~file_size_limit() {
    ::setrlimit(RLIMIT_FSIZE, &old);
    std::signal(SIGXFSZ, old_handler);
  }
};

struct fixture : test::pipeline_fixture {
  fixture() : test::pipeline_fixture("blob_write") {}

  blob_store blobs{session};

  /// Uploads `content` and submits one execution over it; returns the file key.
  std::string submit_blob(const std::string& id, const std::string& content) {
    auto blob_id = value_of(blobs.put("big.bin", content));
    submit(id, "docs", {"blob:" + blob_id}, 1);
    CAF_REQUIRE_EQUAL(step(orchestrator_queue), 1);
    return "blob:" + blob_id;
  }

  /// Handles the one visible batch; returns its result.
  handler_result handle_batch() {
    results.clear();
    CAF_REQUIRE_EQUAL(step(file_batch_queue), 1);
    return results.front();
  }

  /// The nacked batch is due again now (instead of after its backoff).
  void make_due() { test::exec(dsn, "UPDATE postbox.mailbox SET visible_at = now()"); }
};

}  // namespace

CAF_TEST_FIXTURE_SCOPE(blob_write_tests, fixture)

CAF_TEST(a failed write of the temporary file is retried and never recorded) {
  const std::string content(64 * 1024, 'x');
  submit_blob("e-full", content);
  ctx.temp_dir = dir.path;
  {
    file_size_limit full{1024};  // the disk is "full" after 1 KiB
    auto r = handle_batch();
    CAF_MESSAGE("detail: " << r.detail);
    CAF_CHECK_EQUAL(to_string(r.what), std::string("retry_later"));
    CAF_CHECK(contains(r.detail, "cannot write the temporary file"));
  }
  CAF_CHECK_EQUAL(n("SELECT count(*) FROM postbox.file_results"), 0);
  // The node's full disk is not the message's fault: no attempt is charged.
  CAF_CHECK_EQUAL(n("SELECT count(*) FROM postbox.mailbox WHERE queue = 'file_batch' AND "
                    "attempts = 0 AND last_error LIKE '%cannot write the temporary file%'"),
                  1);
  CAF_CHECK_EQUAL(n("SELECT count(*) FROM postbox.barrier_arrivals"), 0);
  CAF_CHECK_EQUAL(status("e-full"), "EXECUTING");
  // With room again the retry records the true checksum.
  make_due();
  CAF_CHECK_EQUAL(handle_batch().detail, "done; its group's callback fired");
  drain();
  CAF_CHECK_EQUAL(status("e-full"), "COMPLETED");
  CAF_CHECK_EQUAL(n("SELECT count(*) FROM postbox.file_results f JOIN postbox.blobs b "
                    "ON f.file_key = 'blob:' || b.id WHERE f.status = 'done' AND "
                    "f.result->>'sha256' = b.sha256 AND (f.result->>'size')::bigint = 65536"),
                  1);
}

CAF_TEST(a temporary directory that cannot hold files is a retryable failure) {
  submit_blob("e-nodir", "some content\n");
  ctx.temp_dir = dir.file("not-a-directory", "a regular file\n");
  auto r = handle_batch();
  CAF_MESSAGE("detail: " << r.detail);
  CAF_CHECK_EQUAL(to_string(r.what), std::string("retry_later"));
  CAF_CHECK(contains(r.detail, "cannot create a temporary file in " + ctx.temp_dir));
  CAF_CHECK_EQUAL(n("SELECT count(*) FROM postbox.file_results"), 0);
  CAF_CHECK_EQUAL(n("SELECT count(*) FROM postbox.mailbox WHERE queue = 'file_batch'"), 1);
  ctx.temp_dir = dir.path;
  make_due();
  CAF_CHECK_EQUAL(handle_batch().detail, "done; its group's callback fired");
  drain();
  CAF_CHECK_EQUAL(status("e-nodir"), "COMPLETED");
  CAF_CHECK_EQUAL(n("SELECT count(*) FROM postbox.file_results WHERE status = 'done'"), 1);
}

CAF_TEST(the temporary directory comes from TMPDIR) {
  const char* was = std::getenv("TMPDIR");
  const std::string old = was ? was : "";
  ::setenv("TMPDIR", "/var/tmp", 1);
  test::worker w{dsn, topo, registry, "w-tmp"};
  ::unsetenv("TMPDIR");
  test::worker plain{dsn, topo, registry, "w-plain"};
  if (was) ::setenv("TMPDIR", old.c_str(), 1);
  CAF_CHECK_EQUAL(w.ctx.temp_dir, "/var/tmp");
  CAF_CHECK_EQUAL(plain.ctx.temp_dir, "/tmp");
}

CAF_TEST(blobs past the batch query share are read one at a time and checksum right) {
  // Three 600 KB files of every byte value: the first comes with the batch query, the
  // other two would pass its 1 MB and are read on their own.
  std::vector<std::string> keys;
  for (int i = 0; i < 3; ++i) {
    std::string content(600000, '\0');
    for (size_t j = 0; j < content.size(); ++j)
      content[j] = static_cast<char>((j * (i + 7)) & 0xff);
    keys.push_back("blob:" + value_of(blobs.put("part" + std::to_string(i), content)));
  }
  submit("e-parts", "docs", keys, 0);
  CAF_REQUIRE_EQUAL(step(orchestrator_queue), 1);
  CAF_CHECK_EQUAL(handle_batch().detail, "done; its group's callback fired");
  drain();
  CAF_CHECK_EQUAL(status("e-parts"), "COMPLETED");
  CAF_CHECK_EQUAL(n("SELECT count(*) FROM postbox.file_results f JOIN postbox.blobs b "
                    "ON f.file_key = 'blob:' || b.id WHERE f.status = 'done' AND "
                    "f.result->>'sha256' = b.sha256 AND (f.result->>'size')::bigint = 600000"),
                  3);
}

CAF_TEST_FIXTURE_SCOPE_END()

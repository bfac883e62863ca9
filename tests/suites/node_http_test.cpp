// A node's HTTP endpoint: /healthz answers 200 while the consumer loops run and
// 503 once they are stale (node frozen with SIGSTOP); /metrics counts the work
// and shows the queues; / is the dashboard.
#define CAF_SUITE node_http
#include <caf/test/unit_test.hpp>
#include <csignal>

#include "actors/runtime/node_metrics.hpp"
#include "actors/transports/http_client.hpp"
#include "actors/transports/http_server.hpp"
#include "client/client.hpp"
#include "support/node_process.hpp"
#include "support/pg_fixture.hpp"

using namespace postbox;
using namespace std::chrono_literals;

CAF_TEST(health turns stale when a consumer loop stops) {
  node_metrics m;
  std::string why;
  CAF_CHECK(m.healthy(why));  // no consumers yet
  m.consumer_tick("file_batch", 50ms);
  CAF_CHECK(m.healthy(why));
  CAF_CHECK(test::wait_until([&] { return !m.healthy(why); }, 2s, 10ms));
  CAF_CHECK(why.find("file_batch") != std::string::npos);
  m.consumer_tick("file_batch", 50ms);
  CAF_CHECK(m.healthy(why));
  m.handled("file_batch", "acked");
  m.claimed("file_batch", 3);
  auto text = m.prometheus();
  CAF_CHECK(text.find("postbox_claimed_total{queue=\"file_batch\"} 3") != std::string::npos);
  CAF_CHECK(text.find("postbox_handled_total{queue=\"file_batch\",outcome=\"acked\"} 1") !=
            std::string::npos);
}

CAF_TEST(healthz metrics and dashboard) {
  auto dsn = test::create_migrated_database("http");
  auto dir = test::make_temp_dir("http");
  auto port = test::free_port();
  CAF_REQUIRE_NOT_EQUAL(port, 0);
  auto topology = test::write_file(dir + "/topology.yaml", R"(database: { dsn: "${POSTBOX_DSN}" }
queues:
  file_batch: { visibility_timeout: 1s }
workflows:
  docs: { processor: checksum, batch_size: 2 }
nodes:
  a:
    http_port: )" + std::to_string(port) + R"(
    actors:
      - { role: orchestrator }
      - { role: file_batch, concurrency: 2 }
      - { role: callback }
)");
  test::node_process a(topology, "a", dsn);
  CAF_REQUIRE(a.start());
  auto base = "http://127.0.0.1:" + std::to_string(port);
  CAF_REQUIRE(
      test::wait_until([&] { return http_get(base + "/healthz", 1s).status == 200; }, 10s, 100ms));
  for (int i = 0; i < 4; ++i) test::write_file(dir + "/in/f" + std::to_string(i), "x");
  client c{dsn};
  submit_request req;
  req.workflow = "docs";
  req.paths = {dir + "/in"};
  auto sub = c.submit(req);
  CAF_REQUIRE(sub);
  auto done = c.wait(sub->execution_id, {}, 100ms, 20s);
  CAF_REQUIRE(done);
  auto metrics = http_get(base + "/metrics", 2s);
  CAF_CHECK_EQUAL(metrics.status, 200);
  CAF_CHECK(metrics.body.find("postbox_handled_total{queue=\"file_batch\",outcome=\"acked\"} 2") !=
            std::string::npos);
  CAF_CHECK(metrics.body.find("postbox_queue_depth{queue=\"orchestrator\"} 0") !=
            std::string::npos);
  CAF_CHECK(metrics.body.find("postbox_acks_total{queue=\"file_batch\"} 2") != std::string::npos);
  CAF_CHECK(metrics.body.find("postbox_database_up 1") != std::string::npos);
  auto page = http_get(base + "/", 2s);
  CAF_CHECK_EQUAL(page.status, 200);
  CAF_CHECK(page.body.find(sub->execution_id) != std::string::npos);
  CAF_CHECK_EQUAL(http_get(base + "/nope", 2s).status, 404);
  // A frozen node does not answer at all: a load balancer sees it as down.
  a.signal(SIGSTOP);
  CAF_REQUIRE(test::wait_until([&] { return a.stopped(); }, 5s, 10ms));
  CAF_CHECK_NOT_EQUAL(http_get(base + "/healthz", 500ms).status, 200);
  a.signal(SIGCONT);
  CAF_CHECK(
      test::wait_until([&] { return http_get(base + "/healthz", 1s).status == 200; }, 10s, 100ms));
  a.signal(SIGTERM);
  CAF_CHECK_EQUAL(a.wait_exit(15s), 0);
}

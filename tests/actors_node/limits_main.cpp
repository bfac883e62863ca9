// The limits suite's node: type `work` on queues `lim` and `keyed_lim`. A work item
// sleeps sleep_ms and records its run (start and end in microseconds of the system
// clock, the node, the limit key it was sent with) in the test's table `runs`, with
// its ack: the suite computes the largest overlap of runs in SQL.
#include <chrono>
#include <postbox/postbox.hpp>
#include <string>
#include <thread>

struct work {
  std::string key;
  int64_t sleep_ms = 0;
};
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, work& x) {
  return f(caf::meta::type_name("work"), postbox::field("key", x.key),
           postbox::field("sleep_ms", x.sleep_ms));
}

namespace {

int64_t now_us() {
  return std::chrono::duration_cast<std::chrono::microseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

postbox::outcome run(postbox::context& ctx, const work& w) {
  const auto started = now_us();
  if (w.sleep_ms > 0) std::this_thread::sleep_for(std::chrono::milliseconds(w.sleep_ms));
  ctx.execute(
      "INSERT INTO runs (message_id, queue, key, owner, started_us, ended_us) "
      "VALUES ($1::bigint, $2, $3, $4, $5::bigint, $6::bigint)",
      {std::to_string(ctx.message_id()), ctx.queue(), w.key, ctx.owner(), std::to_string(started),
       std::to_string(now_us())});
  return {};
}

}  // namespace

int main(int argc, char** argv) {
  postbox::registry registry;
  registry.on<work>(run);
  return postbox::node_main(argc, argv, registry);
}

// The executor example's handlers: one file, the whole durable actor.
#include "apps/examples/tools/tools.hpp"

#include <algorithm>
#include <boost/json.hpp>
#include <cctype>
#include <chrono>
#include <cstdlib>
#include <map>
#include <sstream>
#include <thread>

namespace tools {

namespace {

/// The expensive call (an LLM, a paid API) in the real system; here small tools.
/// The result goes to on_success and, for a caller that asked (`postbox ask`), is
/// also the reply: both commit with the ack, so a redelivery never answers twice.
/// The call itself may run twice even with max_attempts 1 (delivery is at least once:
/// a node killed mid-call runs it again, uncharged). These tools are pure; a real
/// paid call must be idempotent by its own key, e.g. the provider's idempotency key
/// set to "tool-call-" + ctx.message_id(), or a row written with ctx.write_now under
/// that key and read back before calling.
postbox::outcome run_tool(postbox::context& ctx, const tool_call& call) {
  std::string result;
  if (call.tool == "wordcount") {
    std::istringstream in(call.input);
    std::string word;
    int64_t words = 0;
    while (in >> word) ++words;
    result = boost::json::serialize(boost::json::object{{"words", words}});
  } else if (call.tool == "upper") {
    std::string out = call.input;
    for (auto& c : out) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    result = boost::json::serialize(boost::json::object{{"text", out}});
  } else if (call.tool == "sleep") {
    // A slow call: sleeps `input` milliseconds; names its delivery (the receipt), so
    // one can tell which delivery of a redelivered call answered.
    auto ms = std::min<int64_t>(std::max<int64_t>(std::atoll(call.input.c_str()), 0), 60000);
    std::this_thread::sleep_for(std::chrono::milliseconds(ms));
    result = boost::json::serialize(
        boost::json::object{{"slept_ms", ms}, {"receipt", ctx.fencing_token()}});
  } else {
    // With max_attempts 1 on the executor queue this is not retried: it is
    // dead-lettered, the caller's on_error gets this text and an asker this error.
    return postbox::outcome::fail("no tool named '" + call.tool + "' (attempt " +
                                  std::to_string(ctx.attempt()) + ")");
  }
  ctx.reply(postbox::json_text{result});
  return postbox::outcome::ok(postbox::json_text{result});
}

/// Records a finished call in the example's own table, with the continuation's ack.
postbox::outcome record_done(postbox::context& ctx, const tool_done& done) {
  if (done.call_id.empty()) return postbox::outcome::reject("tool_done without a call_id");
  ctx.execute(
      "INSERT INTO tool_outcomes (call_id, status, result, message_id) "
      "VALUES ($1, 'done', $2::jsonb, $3::bigint) ON CONFLICT (call_id) DO NOTHING",
      {done.call_id, done.result.text, std::to_string(done.message_id)});
  return {};
}

postbox::outcome record_failed(postbox::context& ctx, const tool_failed& failed) {
  if (failed.call_id.empty()) return postbox::outcome::reject("tool_failed without a call_id");
  ctx.execute(
      "INSERT INTO tool_outcomes (call_id, status, error, message_id) "
      "VALUES ($1, 'failed', $2, $3::bigint) ON CONFLICT (call_id) DO NOTHING",
      {failed.call_id, failed.error, std::to_string(failed.message_id)});
  return {};
}

/// Fans out every call and nested batch; batch_done gets their outcomes.
postbox::outcome run_batch(postbox::context& ctx, const tool_batch& batch) {
  std::vector<postbox::message_out> children;
  for (const auto& call : batch.calls) {
    children.push_back(postbox::message_out::of("executor", call));
    children.back().limit_key = call.tool;  // topology limits.<tool>, when one is set
  }
  for (const auto& nested : batch.batches)
    children.push_back(postbox::message_out::of("executor", nested));
  ctx.fan_out(std::move(children),
              postbox::message_out::of("tool_callbacks", batch_done{batch.call_id, "", {}}));
  return {};
}

/// Records a batch's outcome (no ON CONFLICT: a second callback for one batch would
/// fail here and end in the dead letters, where a test sees it). Its result is the
/// summary, which a nested batch's outer group receives as this child's result.
postbox::outcome record_batch(postbox::context& ctx, const batch_done& done) {
  boost::json::error_code ec;
  auto results = boost::json::parse(done.results.text, ec);
  if (ec || !results.is_array()) return postbox::outcome::reject("batch_done without results");
  int64_t ok = 0, failed = 0;
  for (const auto& r : results.as_array()) {
    const auto* o = r.if_object();
    auto status = o ? o->find("status") : nullptr;
    if (o && status != o->end() && status->value() == "ok")
      ++ok;
    else
      ++failed;
  }
  boost::json::object summary{{"ok", ok}, {"failed", failed}, {"results", results}};
  auto text = boost::json::serialize(summary);
  ctx.execute(
      "INSERT INTO tool_outcomes (call_id, status, result, message_id) "
      "VALUES ($1, 'done', $2::jsonb, $3::bigint)",
      {done.call_id, text, std::to_string(ctx.message_id())});
  return postbox::outcome::ok(postbox::json_text{boost::json::serialize(
      boost::json::object{{"call_id", done.call_id}, {"ok", ok}, {"failed", failed}})});
}

}  // namespace

void register_tools(postbox::registry& registry) {
  registry.on<tool_call>("executor", run_tool)
      .on<tool_batch>("executor", run_batch)
      .on<batch_done>("tool_callbacks", record_batch)
      .on<tool_done>("tool_callbacks", record_done)
      .on<tool_failed>("tool_callbacks", record_failed);
}

}  // namespace tools

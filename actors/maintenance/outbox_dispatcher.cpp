// One dispatcher sweep: claim, deliver, settle.
#include "actors/maintenance/outbox_dispatcher.hpp"

#include <boost/json.hpp>

#include "actors/transports/http_client.hpp"
#include "messages/utf8.hpp"

namespace postbox {

outbox_dispatcher::outbox_dispatcher(pg_session& session, outbox_dispatcher_config cfg,
                                     std::string owner)
    : outbox_(session), cfg_(std::move(cfg)), owner_(std::move(owner)) {}

namespace {

std::string idempotency_key(const outbox_item& item) {
  boost::json::error_code ec;
  auto v = boost::json::parse(item.payload, ec);
  std::string status = "UNKNOWN";
  if (!ec && v.is_object())
    if (auto* s = v.as_object().if_contains("status"); s && s->is_string())
      status = std::string(s->as_string());
  return item.execution_id + ":" + status;
}

std::chrono::milliseconds backoff(const outbox_dispatcher_config& cfg, int attempts) {
  auto d = cfg.backoff_base;
  for (int i = 1; i < attempts && d < cfg.backoff_cap; ++i) d *= 2;
  return std::min(d, cfg.backoff_cap);
}

}  // namespace

caf::expected<outbox_run_counts> outbox_dispatcher::run_once() {
  outbox_run_counts counts;
  // A kind with no url configured is not claimed: its rows stay pending (never
  // marked delivered without a POST) until a url is configured.
  std::vector<std::string> kinds;
  if (!cfg_.webhook_url.empty()) kinds.emplace_back("webhook");
  if (!cfg_.usage_url.empty()) kinds.emplace_back("usage");
  if (kinds.empty()) return counts;
  auto items = outbox_.claim_for_delivery(cfg_.batch, cfg_.claim_lease, owner_, kinds);
  if (!items) return items.error();
  auto started = std::chrono::steady_clock::now();
  bool first = true;
  for (const auto& item : *items) {
    // Past this point the claim may have expired and another dispatcher taken the
    // rest: stop, the unattempted rows come back when their claim runs out.
    if (!first && std::chrono::steady_clock::now() - started > cfg_.claim_lease - cfg_.timeout)
      break;
    first = false;
    std::string error;
    const bool usage = item.kind == "usage";
    const std::string& url = usage ? cfg_.usage_url : cfg_.webhook_url;
    const int32_t max_attempts = usage ? cfg_.usage_max_attempts : cfg_.max_attempts;
    {
      auto key = usage ? item.execution_id + ":usage" : idempotency_key(item);
      auto res = post_json(url, item.payload, {{"Idempotency-Key", key}},
                           usage ? cfg_.usage_timeout : cfg_.timeout);
      if (!res.ok()) error = res.error.empty() ? "HTTP " + std::to_string(res.status) : res.error;
    }
    if (error.empty()) {
      auto err = outbox_.mark_delivered(item);
      if (err && !is(err, errc::lease_lost)) return err;
      ++counts.delivered;
      continue;
    }
    auto state =
        outbox_.mark_failed(item, backoff(cfg_, item.attempts), max_attempts, utf8_sanitize(error));
    if (!state) {
      if (is(state.error(), errc::lease_lost)) continue;
      return state.error();
    }
    if (*state == outbox_state::failed)
      ++counts.failed;
    else
      ++counts.retrying;
  }
  return counts;
}

}  // namespace postbox

// Execution <-> JSON with Boost.JSON.
#include "persistence/execution_json.hpp"

#include <boost/json.hpp>
#include <ctime>

namespace postbox {

std::string utc_timestamp(double epoch) {
  std::time_t t = static_cast<std::time_t>(epoch);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%d %H:%M:%SZ", &tm);
  return buf;
}

std::string execution_to_json(const execution_record& e) {
  boost::json::object o;
  o["execution_id"] = e.id;
  o["workflow"] = e.workflow;
  o["org"] = e.org;
  o["status"] = to_string(e.status);
  o["files_total"] = e.files_total;
  o["files_done"] = e.files_done;
  o["files_failed"] = e.files_failed;
  o["files_not_run"] = e.files_not_run();
  o["error"] = e.error.empty() ? boost::json::value(nullptr) : boost::json::value(e.error);
  o["created_at"] = utc_timestamp(e.created_epoch);
  o["updated_at"] = utc_timestamp(e.updated_epoch);
  return boost::json::serialize(o);
}

caf::expected<execution_record> execution_from_json(const std::string& text) {
  boost::json::error_code ec;
  auto v = boost::json::parse(text, ec);
  if (ec || !v.is_object()) return make_error(errc::decode_failed, "execution: not a JSON object");
  const auto& o = v.as_object();
  execution_record e;
  auto str = [&](const char* k) -> std::string {
    auto* x = o.if_contains(k);
    return x && x->is_string() ? std::string(x->as_string()) : std::string{};
  };
  auto num = [&](const char* k) -> int32_t {
    auto* x = o.if_contains(k);
    return x && x->is_int64() ? static_cast<int32_t>(x->as_int64()) : 0;
  };
  e.id = str("execution_id");
  e.workflow = str("workflow");
  e.org = str("org");
  auto st = parse_execution_status(str("status"));
  if (e.id.empty() || !st)
    return make_error(errc::decode_failed, "execution: missing id or status");
  e.status = *st;
  e.files_total = num("files_total");
  e.files_done = num("files_done");
  e.files_failed = num("files_failed");
  e.error = str("error");
  return e;
}

}  // namespace postbox

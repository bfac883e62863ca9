// The `chaos` processor, for tests only: sleeps per file, fails files whose name matches
// `fail_on`, and aborts the whole process on `abort_on` to simulate a node crash mid-batch.
#include <fnmatch.h>

#include <boost/json.hpp>
#include <chrono>
#include <cstdlib>
#include <memory>
#include <thread>

#include "actors/pipeline/processors/processor.hpp"
#include "messages/error.hpp"

namespace postbox {

namespace json = boost::json;

namespace {

struct chaos_options {
  int64_t sleep_ms = 0;
  std::string fail_on;   // empty = never
  std::string abort_on;  // empty = never
  std::string hang_on;   // empty = never
  int64_t hang_ms = 3600 * 1000;
};

bool matches(const std::string& glob, const std::string& name) {
  return !glob.empty() && ::fnmatch(glob.c_str(), name.c_str(), 0) == 0;
}

class chaos_processor : public processor {
 public:
  explicit chaos_processor(chaos_options opts) : opts_(std::move(opts)) {}

  processor_outcome process(const file_input& in) override {
    // A crash wins over everything, at once: the files beside it are still running.
    if (matches(opts_.abort_on, in.name)) std::abort();
    if (opts_.sleep_ms > 0) std::this_thread::sleep_for(std::chrono::milliseconds(opts_.sleep_ms));
    // A handler that blocks (a network call without a timeout, a hung mount).
    if (matches(opts_.hang_on, in.name))
      std::this_thread::sleep_for(std::chrono::milliseconds(opts_.hang_ms));
    processor_outcome out;
    const std::string name = detail::sanitize_text(in.name);
    if (matches(opts_.fail_on, in.name)) {
      out.error = "chaos: fail_on matched " + name;
      return out;
    }
    out.ok = true;
    out.result_json = json::serialize(json::object{{"chaos", "ok"}, {"name", name}});
    return out;
  }

 private:
  chaos_options opts_;
};

caf::error bad(const std::string& text) {
  return make_error(errc::invalid_argument, "chaos: " + text);
}

}  // namespace

namespace detail {

caf::expected<std::unique_ptr<processor>> make_chaos_processor(const std::string& options_json) {
  chaos_options opts;
  if (!options_json.empty()) {
    json::error_code ec;
    json::value v = json::parse(options_json, ec);
    if (ec) return bad("options are not valid JSON: " + ec.message());
    const json::object* o = v.if_object();
    if (!o) return bad("options must be an object");
    for (const auto& kv : *o) {
      const std::string key(kv.key());
      if (key == "sleep_ms" || key == "hang_ms") {
        const int64_t* n = kv.value().if_int64();
        // An hour is far beyond any test; a larger value is a typo, not a plan.
        if (!n || *n < 0 || *n > 3600 * 1000)
          return bad("option '" + key + "' must be an integer from 0 to 3600000");
        (key == "sleep_ms" ? opts.sleep_ms : opts.hang_ms) = *n;
      } else if (key == "fail_on" || key == "abort_on" || key == "hang_on") {
        const json::string* s = kv.value().if_string();
        if (!s) return bad("option '" + key + "' must be a glob string");
        (key == "fail_on"    ? opts.fail_on
         : key == "abort_on" ? opts.abort_on
                             : opts.hang_on) = std::string(*s);
      } else {
        return bad("unknown option '" + key +
                   "' (known: sleep_ms, fail_on, abort_on, hang_on, hang_ms)");
      }
    }
  }
  return std::unique_ptr<processor>(new chaos_processor(std::move(opts)));
}

}  // namespace detail

}  // namespace postbox

// Tests of the message structs: JSON round trips, decode errors that name the field, and
// CAF inspect/type-id coverage.
#define CAF_SUITE messages
#include "messages/messages.hpp"

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/binary_deserializer.hpp>
#include <caf/binary_serializer.hpp>
#include <caf/test/unit_test.hpp>
#include <caf/uniform_type_info_map.hpp>
#include <string>
#include <typeinfo>
#include <vector>

#include "messages/error.hpp"
#include "messages/json_codec.hpp"
#include "messages/type_ids.hpp"

using namespace postbox;

namespace {

// Quotes, backslashes, control characters and multi-byte UTF-8 all need escaping or
// pass-through; one string exercises them together.
const std::string tricky = "say \"hi\" \\ back\\slash\n\ttab \x01 ünïcödé ✓ 日本語 🚀";

// The full describe() line of a failed decode, or "ok" if it unexpectedly succeeded.
template <class T>
std::string error_text(const caf::expected<T>& x) {
  if (x) return "ok";
  return describe(x.error());
}

template <class T>
bool is_decode_failure(const caf::expected<T>& x) {
  return !x && is(x.error(), errc::decode_failed);
}

bool contains(const std::string& haystack, const std::string& needle) {
  return haystack.find(needle) != std::string::npos;
}

execute_workflow sample_execute_workflow() {
  execute_workflow x;
  x.org = "acme-" + tricky;
  x.workflow = "ingest";
  x.execution_id = "exec-42";
  x.files = {"/data/a.csv", "/data/" + tricky, "blob:7"};
  x.blob_ids = {"b1", "b2"};
  x.batch_size = 25;
  return x;
}

continuation sample_continuation() {
  // Compact form, because the payload comes back re-serialized by Boost.JSON.
  return continuation{"callbacks", execution_callback_type,
                      R"({"execution_id":"exec-42","note":"ünï \"q\""})"};
}

}  // namespace

// --- round trips ------------------------------------------------------------------------------

CAF_TEST(execute_workflow json round trip) {
  const auto x = sample_execute_workflow();
  auto y = decode_execute_workflow(to_json(x));
  CAF_REQUIRE(y);
  CAF_CHECK_EQUAL(*y, x);
}

CAF_TEST(execute_workflow with only blobs round trips) {
  execute_workflow x;
  x.workflow = "w";
  x.execution_id = "e";
  x.blob_ids = {"b1"};
  auto y = decode_execute_workflow(to_json(x));
  CAF_REQUIRE(y);
  CAF_CHECK_EQUAL(*y, x);
  auto z = decode_execute_workflow(R"({"workflow":"w","execution_id":"e","blob_ids":["b1"]})");
  CAF_REQUIRE(z);
  CAF_CHECK(z->files.empty());
  CAF_CHECK_EQUAL(z->batch_size, 0);
  CAF_CHECK_EQUAL(z->org, "");
}

CAF_TEST(process_file_batch json round trip) {
  process_file_batch x{"exec-42", "ingest", tricky, 7, {"/a", "blob:9", tricky}};
  auto y = decode_process_file_batch(to_json(x));
  CAF_REQUIRE(y);
  CAF_CHECK_EQUAL(*y, x);
  // Optional fields default when absent; an empty files array is a valid (empty) batch.
  auto z = decode_process_file_batch(R"({"execution_id":"e","batch_index":0,"files":[]})");
  CAF_REQUIRE(z);
  CAF_CHECK_EQUAL(*z, (process_file_batch{"e", "", "", 0, {}}));
}

CAF_TEST(execution_callback json round trip) {
  execution_callback x{tricky};
  auto y = decode_execution_callback(to_json(x));
  CAF_REQUIRE(y);
  CAF_CHECK_EQUAL(*y, x);
}

CAF_TEST(continuation json round trip embeds the payload as an object) {
  const auto x = sample_continuation();
  const auto text = to_json(x);
  CAF_CHECK(contains(text, R"("payload":{"execution_id":"exec-42")"));
  auto y = decode_continuation(text);
  CAF_REQUIRE(y);
  CAF_CHECK_EQUAL(*y, x);
}

CAF_TEST(continuation payload defaults to an empty object) {
  auto y = decode_continuation(R"({"queue":"q","type":"t"})");
  CAF_REQUIRE(y);
  CAF_CHECK_EQUAL(y->payload, "{}");
  continuation empty_payload{"q", "t", ""};
  auto z = decode_continuation(to_json(empty_payload));
  CAF_REQUIRE(z);
  CAF_CHECK_EQUAL(z->payload, "{}");
}

CAF_TEST(continuation with a non - object payload fails on decode instead of vanishing) {
  continuation x{"q", "t", "[1,2]"};
  auto y = decode_continuation(to_json(x));
  CAF_CHECK(is_decode_failure(y));
  CAF_CHECK_EQUAL(error_text(y), "decode_failed: field 'payload': expected object, got string");
}

CAF_TEST(message_headers json round trip) {
  message_headers none;
  CAF_CHECK_EQUAL(to_json(none), "{}");
  auto n = decode_message_headers(to_json(none));
  CAF_REQUIRE(n);
  CAF_CHECK_EQUAL(*n, none);

  auto h = message_headers::with_on_success(sample_continuation());
  h.has_on_error = true;
  h.on_error = continuation{"errors", "execution_failed",
                            R"({"why":)" + std::string("\"") + "é\\\"x\\\"" + "\"}"};
  h.trace_id = "trace-" + tricky;
  const auto text = to_json(h);
  CAF_CHECK(contains(text, R"("on_success":{"queue":"callbacks")"));
  CAF_CHECK(contains(text, R"("on_error":{"queue":"errors")"));
  auto y = decode_message_headers(text);
  CAF_REQUIRE(y);
  CAF_CHECK(y->has_on_success);
  CAF_CHECK(y->has_on_error);
  CAF_CHECK_EQUAL(*y, h);

  auto only_error = message_headers::with_on_error(continuation{"e", "t", "{}"});
  const auto only_error_text = to_json(only_error);
  CAF_CHECK(!contains(only_error_text, "on_success"));
  CAF_CHECK(!contains(only_error_text, "trace_id"));
  auto z = decode_message_headers(only_error_text);
  CAF_REQUIRE(z);
  CAF_CHECK(!z->has_on_success);
  CAF_CHECK_EQUAL(*z, only_error);
}

CAF_TEST(unknown keys and explicit nulls on optional fields are accepted) {
  auto y = decode_execute_workflow(
      R"({"workflow":"w","execution_id":"e","files":["f"],"org":null,"batch_size":null,)"
      R"("added_in_v2":{"x":[1,2,3]}})");
  CAF_REQUIRE(y);
  CAF_CHECK_EQUAL(y->org, "");
  CAF_CHECK_EQUAL(y->batch_size, 0);
  auto h = decode_message_headers(R"({"on_success":null,"future":true})");
  CAF_REQUIRE(h);
  CAF_CHECK(!h->has_on_success);
}

// --- decode errors ------------------------------------------------------------------------------

CAF_TEST(execute_workflow decode errors name the field) {
  auto missing = decode_execute_workflow(R"({"execution_id":"e","files":["f"]})");
  CAF_CHECK(is_decode_failure(missing));
  CAF_CHECK(contains(error_text(missing), "workflow"));
  CAF_CHECK_EQUAL(error_text(missing), "decode_failed: field 'workflow': missing");

  auto empty_id = decode_execute_workflow(R"({"workflow":"w","execution_id":"","files":["f"]})");
  CAF_CHECK_EQUAL(error_text(empty_id), "decode_failed: field 'execution_id': must not be empty");

  auto mistyped = decode_execute_workflow(
      R"({"workflow":"w","execution_id":"e","files":["f"],"batch_size":"3"})");
  CAF_CHECK(contains(error_text(mistyped), "batch_size"));
  CAF_CHECK_EQUAL(error_text(mistyped),
                  "decode_failed: field 'batch_size': expected integer, got string");

  auto fractional = decode_execute_workflow(
      R"({"workflow":"w","execution_id":"e","files":["f"],"batch_size":3.0})");
  CAF_CHECK_EQUAL(error_text(fractional),
                  "decode_failed: field 'batch_size': expected integer, got double");

  auto negative = decode_execute_workflow(
      R"({"workflow":"w","execution_id":"e","files":["f"],"batch_size":-1})");
  CAF_CHECK_EQUAL(error_text(negative), "decode_failed: field 'batch_size': must be >= 0");

  auto huge = decode_execute_workflow(
      R"({"workflow":"w","execution_id":"e","files":["f"],"batch_size":2147483648})");
  CAF_CHECK_EQUAL(error_text(huge), "decode_failed: field 'batch_size': out of range");

  auto nothing = decode_execute_workflow(R"({"workflow":"w","execution_id":"e","files":[]})");
  CAF_CHECK_EQUAL(error_text(nothing), "decode_failed: field 'files': no files or blob_ids");

  auto no_files = decode_execute_workflow(R"({"workflow":"w","execution_id":"e"})");
  CAF_CHECK_EQUAL(error_text(no_files), "decode_failed: field 'files': missing");

  auto bad_blob =
      decode_execute_workflow(R"({"workflow":"w","execution_id":"e","blob_ids":["b",null]})");
  CAF_CHECK_EQUAL(error_text(bad_blob),
                  "decode_failed: field 'blob_ids[1]': expected string, got null");
}

CAF_TEST(process_file_batch decode errors name the field) {
  auto missing = decode_process_file_batch(R"({"execution_id":"e","files":["f"]})");
  CAF_CHECK(is_decode_failure(missing));
  CAF_CHECK(contains(error_text(missing), "batch_index"));
  CAF_CHECK_EQUAL(error_text(missing), "decode_failed: field 'batch_index': missing");

  auto mistyped =
      decode_process_file_batch(R"({"execution_id":"e","batch_index":"1","files":["f"]})");
  CAF_CHECK(contains(error_text(mistyped), "batch_index"));
  CAF_CHECK_EQUAL(error_text(mistyped),
                  "decode_failed: field 'batch_index': expected integer, got string");

  auto fractional =
      decode_process_file_batch(R"({"execution_id":"e","batch_index":3.5,"files":["f"]})");
  CAF_CHECK_EQUAL(error_text(fractional),
                  "decode_failed: field 'batch_index': expected integer, got double");

  auto beyond_int64 = decode_process_file_batch(
      R"({"execution_id":"e","batch_index":18446744073709551615,"files":["f"]})");
  CAF_CHECK_EQUAL(error_text(beyond_int64), "decode_failed: field 'batch_index': out of range");

  auto element =
      decode_process_file_batch(R"({"execution_id":"e","batch_index":1,"files":["a","b",3]})");
  CAF_CHECK(contains(error_text(element), "field 'files[2]': expected string"));

  auto not_array = decode_process_file_batch(R"({"execution_id":"e","batch_index":1,"files":"a"})");
  CAF_CHECK_EQUAL(error_text(not_array),
                  "decode_failed: field 'files': expected array, got string");

  auto no_files = decode_process_file_batch(R"({"execution_id":"e","batch_index":1})");
  CAF_CHECK_EQUAL(error_text(no_files), "decode_failed: field 'files': missing");

  auto bad_org =
      decode_process_file_batch(R"({"execution_id":"e","batch_index":1,"files":[],"org":7})");
  CAF_CHECK_EQUAL(error_text(bad_org), "decode_failed: field 'org': expected string, got integer");
}

CAF_TEST(execution_callback decode errors name the field) {
  auto missing = decode_execution_callback(R"({"id":"e"})");
  CAF_CHECK(is_decode_failure(missing));
  CAF_CHECK_EQUAL(error_text(missing), "decode_failed: field 'execution_id': missing");
  auto mistyped = decode_execution_callback(R"({"execution_id":["e"]})");
  CAF_CHECK(contains(error_text(mistyped), "execution_id"));
  CAF_CHECK_EQUAL(error_text(mistyped),
                  "decode_failed: field 'execution_id': expected string, got array");
}

CAF_TEST(continuation decode errors name the field) {
  auto missing = decode_continuation(R"({"queue":"q"})");
  CAF_CHECK(is_decode_failure(missing));
  CAF_CHECK_EQUAL(error_text(missing), "decode_failed: field 'type': missing");
  auto mistyped = decode_continuation(R"({"queue":"q","type":"t","payload":"{}"})");
  CAF_CHECK(contains(error_text(mistyped), "field 'payload': expected object"));
  auto bad_queue = decode_continuation(R"({"queue":false,"type":"t"})");
  CAF_CHECK_EQUAL(error_text(bad_queue), "decode_failed: field 'queue': expected string, got bool");
}

CAF_TEST(message_headers decode errors name the nested field) {
  auto missing = decode_message_headers(R"({"on_success":{"type":"t"}})");
  CAF_CHECK(is_decode_failure(missing));
  CAF_CHECK_EQUAL(error_text(missing), "decode_failed: field 'on_success.queue': missing");
  auto mistyped = decode_message_headers(R"({"on_error":{"queue":"q","type":"t","payload":[]}})");
  CAF_CHECK_EQUAL(error_text(mistyped),
                  "decode_failed: field 'on_error.payload': expected object, got array");
  auto not_object = decode_message_headers(R"({"on_error":"q"})");
  CAF_CHECK_EQUAL(error_text(not_object),
                  "decode_failed: field 'on_error': expected object, got string");
  auto bad_trace = decode_message_headers(R"({"trace_id":1})");
  CAF_CHECK_EQUAL(error_text(bad_trace),
                  "decode_failed: field 'trace_id': expected string, got integer");
}

CAF_TEST(invalid json text) {
  auto truncated = decode_execute_workflow(R"({"workflow":"w")");
  CAF_CHECK(is_decode_failure(truncated));
  CAF_CHECK_EQUAL(error_text(truncated), "decode_failed: invalid JSON: incomplete JSON");
  auto garbage = decode_process_file_batch("{'execution_id': 1}");
  CAF_CHECK_EQUAL(error_text(garbage), "decode_failed: invalid JSON: syntax error");
  auto trailing = decode_execution_callback(R"({"execution_id":"e"} x)");
  CAF_CHECK(contains(error_text(trailing), "invalid JSON"));
  auto empty = decode_message_headers("");
  CAF_CHECK(contains(error_text(empty), "invalid JSON"));
  auto bad_utf8 = decode_continuation("{\"queue\":\"q\xff\",\"type\":\"t\"}");
  CAF_CHECK(contains(error_text(bad_utf8), "invalid JSON"));
}

CAF_TEST(non - object bodies are rejected) {
  const char* expected = "decode_failed: expected a JSON object";
  CAF_CHECK_EQUAL(error_text(decode_execute_workflow("[1,2]")), expected);
  CAF_CHECK_EQUAL(error_text(decode_process_file_batch("\"text\"")), expected);
  CAF_CHECK_EQUAL(error_text(decode_execution_callback("null")), expected);
  CAF_CHECK_EQUAL(error_text(decode_continuation("42")), expected);
  CAF_CHECK_EQUAL(error_text(decode_message_headers("true")), expected);
}

// --- CAF serialization and type ids -------------------------------------------------------------

CAF_TEST(binary serialization covers every field) {
  caf::actor_system_config cfg;
  cfg.add_message_types<caf::id_block::postbox>();
  caf::actor_system sys{cfg};

  const auto x = sample_execute_workflow();
  std::vector<char> buf;
  {
    caf::binary_serializer sink{sys, buf};
    auto copy = x;
    CAF_REQUIRE(!sink(copy));
  }
  execute_workflow y;
  caf::binary_deserializer source{sys, buf};
  CAF_REQUIRE(!source(y));
  CAF_CHECK_EQUAL(y, x);

  // envelope nests headers and continuations, so this also covers their inspect overloads.
  envelope e{"q", execute_workflow_type, "exec-42", "acme", message_headers{}};
  e.headers = message_headers::with_on_success(sample_continuation());
  e.headers.has_on_error = true;
  e.headers.on_error = continuation{"errors", "failed", R"({"n":1})"};
  e.headers.trace_id = tricky;
  std::vector<char> ebuf;
  {
    caf::binary_serializer sink{sys, ebuf};
    auto copy = e;
    CAF_REQUIRE(!sink(copy));
  }
  envelope f;
  caf::binary_deserializer esource{sys, ebuf};
  CAF_REQUIRE(!esource(f));
  CAF_CHECK_EQUAL(f, e);
  // Compare the continuations directly: operator== skips them when their flags are off.
  CAF_CHECK_EQUAL(f.headers.on_error, e.headers.on_error);
}

CAF_TEST(type ids come from the postbox block) {
  CAF_CHECK(caf::type_id<execute_workflow>::value >= caf::first_custom_type_id);
  CAF_CHECK(caf::type_id<process_file_batch>::value >= caf::first_custom_type_id);
  CAF_CHECK(caf::type_id<execution_callback>::value >= caf::first_custom_type_id);
  CAF_CHECK(caf::type_id<continuation>::value >= caf::first_custom_type_id);
  CAF_CHECK(caf::type_id<message_headers>::value >= caf::first_custom_type_id);
  CAF_CHECK(caf::type_id<envelope>::value >= caf::first_custom_type_id);
  CAF_CHECK_EQUAL(caf::id_block::postbox::end - caf::id_block::postbox::begin, 6);

  // add_message_types registers the stringified names, which are the wire identity.
  caf::actor_system_config cfg;
  cfg.add_message_types<caf::id_block::postbox>();
  caf::actor_system sys{cfg};
  CAF_CHECK_EQUAL(sys.types().portable_name(0, &typeid(execute_workflow)),
                  "postbox::execute_workflow");
  CAF_CHECK_EQUAL(sys.types().portable_name(0, &typeid(envelope)), "postbox::envelope");
}

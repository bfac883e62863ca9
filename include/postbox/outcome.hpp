// What a handler answers: a result, a failed attempt, or a rejection. Errors are
// values; a handler that throws is a failed attempt, never a dead worker.
#pragma once

#include <postbox/describe.hpp>
#include <string>
#include <utility>

namespace postbox {

class outcome {
 public:
  enum class kind {
    ok,        // succeeded: commit the handler's effects with the ack; on_success gets `result`
    failed,    // a failed attempt: charged, retried with backoff until max_attempts, then
               // dead-lettered with on_error
    rejected,  // will never succeed (bad input): dead-lettered now, on_error
    errored,   // an error value (e.g. from query()): a lost connection or the server's
               // trouble is given back uncharged; anything else is a failed attempt
    dropped,   // should never have been sent (a forgery, a stray): dead-lettered for
               // inspection, nothing else (no on_error, its execution untouched)
  };

  /// Success with no result (`result` is null).
  outcome() = default;

  /// Success with `result` as any JSON value.
  static outcome ok(json_text result) {
    outcome o;
    o.result_ = std::move(result.text);
    return o;
  }
  /// Success with a described struct as the result.
  template <class T>
  static outcome ok(const T& result) {
    return ok(json_text{encode_json(result)});
  }
  static outcome fail(std::string error) { return {kind::failed, std::move(error)}; }
  static outcome reject(std::string error) { return {kind::rejected, std::move(error)}; }
  static outcome drop(std::string reason) { return {kind::dropped, std::move(reason)}; }
  /// From an error value: uncharged when it is not the message's fault (a lost
  /// connection, a full disk, the server's trouble), a failed attempt otherwise.
  static outcome from(caf::error err) {
    outcome o{kind::errored, {}};
    o.cause_ = std::move(err);
    return o;
  }
  /// Replaces the delivery's detail ("done") in the node's log and metrics.
  outcome& note(std::string text) {
    note_ = std::move(text);
    return *this;
  }
  const std::string& note() const { return note_; }
  const caf::error& cause() const { return cause_; }

  kind what() const { return kind_; }
  bool succeeded() const { return kind_ == kind::ok; }
  const std::string& result_json() const { return result_; }
  const std::string& error() const { return error_; }

 private:
  outcome(kind k, std::string error) : kind_(k), error_(std::move(error)) {}
  kind kind_ = kind::ok;
  std::string result_ = "null";
  std::string error_;
  std::string note_;
  caf::error cause_;
};

}  // namespace postbox

// A handler's own SQL on its own tables, without pqxx: a statement is text with
// $1..$n placeholders and text parameters (std::nullopt is NULL; the server casts,
// e.g. $2::int), and the small interface a step inside the ack's transaction gets.
#pragma once

#include <caf/expected.hpp>
#include <exception>
#include <functional>
#include <optional>
#include <string>
#include <vector>

namespace postbox {

class tx_context;  // internal: the unit of work's transaction

using sql_value = std::optional<std::string>;
using sql_row = std::vector<sql_value>;

struct sql_statement {
  std::string text;
  std::vector<sql_value> params;
};

/// The small interface a handler gets to the transaction that acks its message:
/// reads and writes whose results it can act on before the commit. A failed
/// statement is returned as an error and also remembered: the transaction then
/// rolls back whatever the handler does with the error (it cannot be swallowed).
class sql_tx {
 public:
  explicit sql_tx(tx_context& tx) : tx_(tx) {}
  caf::expected<std::vector<sql_row>> query(const std::string& sql,
                                            std::vector<sql_value> params = {});
  /// Runs a write; returns how many rows it affected.
  caf::expected<int64_t> execute(const std::string& sql, std::vector<sql_value> params = {});

  /// What happened, in a few words, for the node's log and the delivery's detail.
  void note(std::string text) { note_ = std::move(text); }
  const std::string& note() const { return note_; }

  /// A step that declines may say its message failed: the message then arrives at its
  /// group as {status: "error", error} instead of {status: "ok", result: {declined}}
  /// (the pipeline's callback of an execution that ended in ERROR).
  void arrive_as_error(std::string error) { arrival_error_ = std::move(error); }
  const std::string& arrival_error() const { return arrival_error_; }

  /// The first statement failure, to rethrow after the handler's function returns.
  std::exception_ptr failure() const { return failure_; }

 private:
  tx_context& tx_;
  std::exception_ptr failure_;
  std::string note_;
  std::string arrival_error_;
};

/// A handler's step inside the ack's transaction: false keeps the ack but drops the
/// handler's other effects (its sends, fan-outs, reply and on_success); an error
/// rolls the whole transaction back (a failed attempt).
using in_ack_fn = std::function<caf::expected<bool>(sql_tx&)>;

/// How the ack of a delivery of an execution takes the execution's fence before its
/// in-ack steps run: shared (any ack, a batch recording results) or exclusive (a step
/// that moves the execution to a terminal status and must see every recording ended).
enum class execution_fence { shared, exclusive };

}  // namespace postbox

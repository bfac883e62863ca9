// Durable ask, the asker's side: look up the reply stored under a request's key
// (written by the handler's ack, or by its dead letter; migration 011).
#pragma once

#include <caf/expected.hpp>
#include <cstdint>
#include <string>

#include "persistence/pg_session.hpp"

namespace postbox {

/// What the database holds for one request at one moment.
struct reply_lookup {
  enum class state {
    replied,     // the handler replied: `body`
    failed,      // the request was dead-lettered: `error` (its reason)
    waiting,     // the request is still in the mailbox: `message_id`
    unanswered,  // neither: handled without a reply, never sent, or pruned
  };
  state status = state::unanswered;
  int64_t message_id = 0;  // the request message (replied, failed, waiting)
  std::string body = "null";
  std::string error;
};

class reply_store {
 public:
  explicit reply_store(pg_session& session) : session_(session) {}

  /// The reply under `key`, else whether its request is still waiting (by
  /// `message_id` when known, else by the key in the mailbox's headers). One snapshot.
  caf::expected<reply_lookup> lookup(const std::string& key, int64_t message_id = 0);

 private:
  pg_session& session_;
};

}  // namespace postbox

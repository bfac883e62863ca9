// The handler context is public (<postbox/context.hpp>); the runtime also builds
// the transaction that ends a success from it.
#pragma once

#include <postbox/context.hpp>

#include "persistence/handled_commit.hpp"
#include "persistence/user_sql.hpp"

namespace postbox {

/// What a handler sends and fans out, committed with its ack.
struct context_effects {
  std::vector<outgoing_message> sends;
  std::vector<fan_out_group> groups;
};

/// The success transaction of `ctx`'s delivery: ack + the handler's effects +
/// on_success with `result_json`.
success_commit commit_of(const context& ctx, const std::string& result_json);

}  // namespace postbox

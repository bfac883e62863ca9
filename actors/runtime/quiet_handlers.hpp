// CAF 0.17 answers an unexpected message with an error, and an unhandled error
// kills the actor that receives it: one stray message could take down a
// consumer and, by the reply, its sender. Our actors drop strays and log errors.
#pragma once

#include <caf/all.hpp>

#include "actors/runtime/log.hpp"

namespace postbox {

inline void install_quiet_handlers(caf::scheduled_actor* self, std::string label) {
  self->set_default_handler([label](caf::scheduled_actor*, caf::message_view& x) {
    log_line(label, "dropped unexpected message " + caf::to_string(x.content()));
    return caf::result<caf::message>{caf::make_message()};
  });
  self->set_error_handler([label](caf::error& err) {
    log_line(label, "ignored error message: " + caf::to_string(err));
  });
}

}  // namespace postbox

// The control plane's shared pieces: the token, the actor-system settings
// (middleman heartbeat and connection timeout, which CAF 0.17 leaves off; TLS),
// publishing a node's control actor and connecting to one.
#pragma once

#include <caf/expected.hpp>
#include <caf/fwd.hpp>
#include <caf/replies_to.hpp>
#include <caf/typed_actor.hpp>
#include <string>

#include "actors/runtime/atoms.hpp"
#include "actors/runtime/runtime_config.hpp"

namespace postbox {

/// The typed interface of a node's control actor. Every request carries the
/// shared token first; all answers are one line of text or JSON. `watch` answers
/// with the current state and then sends (progress_atom, json) to the requester
/// whenever it changes, until the execution is terminal.
using control_api = caf::typed_actor<
    caf::replies_to<info_atom, std::string>::with<std::string>,
    caf::replies_to<status_atom, std::string, std::string>::with<std::string>,
    caf::replies_to<watch_atom, std::string, std::string>::with<std::string>,
    caf::replies_to<pause_atom, std::string, std::string, bool>::with<std::string>,
    caf::replies_to<resume_atom, std::string, std::string, bool>::with<std::string>,
    caf::replies_to<drain_atom, std::string>::with<std::string>, caf::reacts_to<tick_atom>>;

/// The token clients must present: from control.token_env or control.token_file;
/// empty when neither is set. An unreadable file or unset variable is an error.
caf::expected<std::string> control_token(const control_config& c);

/// Loads the middleman (and OpenSSL for TLS) and sets heartbeat / connection timeout,
/// so a dead or partitioned peer is seen in seconds.
void configure_control(caf::actor_system_config& cfg, const control_config& c);

/// Publishes a node's control actor on c.bind:port (TLS when configured).
caf::expected<uint16_t> publish_control(caf::actor_system& sys, const control_api& control,
                                        const control_config& c, uint16_t port);

/// Withdraws a published control actor (before shutdown: a published actor is
/// referenced by the middleman and would keep the actor system from ending).
void unpublish_control(caf::actor_system& sys, const control_api& control, const control_config& c);

/// Connects to the control actor at host:port (TLS when configured).
caf::expected<control_api> connect_control(caf::actor_system& sys, const control_config& c,
                                           const std::string& host, uint16_t port);

/// The node's control actor: info, status, watch (pushes progress until terminal),
/// pause / resume of a queue (forwarded to the peers), drain. Every request carries
/// the token first; a wrong one is refused with errc::unauthorized.
control_api spawn_control(caf::actor_system& sys, runtime_ptr rt, caf::actor supervisor,
                          std::string token);

}  // namespace postbox

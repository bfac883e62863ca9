// The atoms of postbox's actor protocols (CAF 0.17: at most 10 characters).
#pragma once

#include <caf/atom.hpp>

namespace postbox {

using poll_atom = caf::atom_constant<caf::atom("pb_poll")>;        // consumer: claim now
using renew_atom = caf::atom_constant<caf::atom("pb_renew")>;      // consumer: renew leases
using done_atom = caf::atom_constant<caf::atom("pb_done")>;        // worker -> consumer
using drain_atom = caf::atom_constant<caf::atom("pb_drain")>;      // stop claiming, finish, quit
using wake_atom = caf::atom_constant<caf::atom("pb_wake")>;        // listener -> consumer
using respawn_atom = caf::atom_constant<caf::atom("pb_respawn")>;  // supervisor/consumer timer
using dispatch_atom = caf::atom_constant<caf::atom("pb_disp")>;    // consumer: start what waits
using overdue_atom = caf::atom_constant<caf::atom("pb_overdue")>;  // past max_handler_time
using drain_deadline_atom = caf::atom_constant<caf::atom("pb_drdl")>;  // drain_timeout passed
using tick_atom = caf::atom_constant<caf::atom("pb_tick")>;            // periodic maintenance
using consumers_atom = caf::atom_constant<caf::atom("pb_cons")>;       // supervisor -> listener
// The control plane (node control actor <-> clients and peers).
using info_atom = caf::atom_constant<caf::atom("pb_info")>;
using status_atom = caf::atom_constant<caf::atom("pb_status")>;
using watch_atom = caf::atom_constant<caf::atom("pb_watch")>;
using progress_atom = caf::atom_constant<caf::atom("pb_prog")>;
using pause_atom = caf::atom_constant<caf::atom("pb_pause")>;
using resume_atom = caf::atom_constant<caf::atom("pb_resume")>;

}  // namespace postbox

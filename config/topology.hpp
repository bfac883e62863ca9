// The topology: what a cluster runs (database, queues, workflows, nodes and their actors),
// loaded strictly from YAML so a typo fails at start with FILE:LINE:COL instead of misbehaving.
#pragma once

#include <caf/expected.hpp>
#include <chrono>
#include <cstdint>
#include <map>
#include <postbox/priority.hpp>
#include <set>
#include <string>
#include <vector>

#include "messages/error.hpp"

namespace postbox {

/// A cluster-wide limit (guarantee 13): on a queue, or on a limit key (topology `limits:`).
/// Written to postbox.limits at node start; every node's claim admits through it.
struct limit_config {
  /// Messages handled at once across all nodes; 0: no concurrency limit.
  int32_t max_in_flight = 0;
  /// Messages started per second across all nodes (a token bucket); 0: no rate limit.
  double rate = 0;
  /// Tokens that may be spent at once after a quiet spell (with a rate; default 1).
  int32_t burst = 0;

  bool any() const { return max_in_flight > 0 || rate > 0; }
};

/// Delivery settings of one mailbox queue; queues not listed in the file use these defaults.
struct queue_config {
  /// How long a claimed message stays invisible before it is redelivered (renewed while
  /// its handler runs, so it only needs to cover a crash, not the task length).
  std::chrono::milliseconds visibility_timeout{30000};
  /// Deliveries before the message is dead-lettered.
  int32_t max_attempts = 3;
  /// Messages claimed per round trip.
  int32_t claim_batch = 16;
  /// Deliveries a consumer may claim ahead of its idle workers, to start them without
  /// a claim of their own (one claim then serves several short tasks). 0: claim only
  /// for idle workers, fairest between nodes and right for long tasks. prefetch_auto (the
  /// default): as many as its workers will start within prefetch_horizon by their recent
  /// handler times (none for long tasks, up to claim_batch for short ones).
  int32_t prefetch = prefetch_auto;
  static constexpr int32_t prefetch_auto = -1;
  /// Wait between claims when the queue was empty.
  std::chrono::milliseconds poll_interval{1000};
  /// A handler still running after this is failed (an attempt, charged): its lease is
  /// no longer renewed and its worker is replaced, so a hung handler (a network call
  /// without a timeout, a hung mount) cannot hold a lease, a worker or a drain forever.
  std::chrono::milliseconds max_handler_time{std::chrono::hours{1}};
  /// `max_in_flight`, `rate`, `burst` given on the queue: a limit over all its messages.
  limit_config limit;
};

/// One workflow: which processor runs each file and how files are batched.
struct workflow_config {
  std::string name;
  /// checksum | wordcount | exec | chaos | a registered one.
  std::string processor;
  int32_t batch_size = 10;
  /// The YAML `options` mapping as a JSON object text. Options of the built-in processors are
  /// typed: exec {argv: [strings], timeout: "30s"}, chaos {sleep_ms: int, fail_on: glob,
  /// abort_on: glob}. Other processors get plain YAML scalars as JSON numbers, bools or null
  /// where they read as such, quoted scalars always as strings.
  std::string options_json = "{}";
};

/// The PostgreSQL connection. `dsn` is required; the password (if any) is read from
/// `password_file` by whoever connects and is never printed.
struct database_config {
  std::string dsn;
  int32_t pool = 4;
  std::string password_file;
  /// "none" (direct), "session" or "transaction": behind a transaction-mode
  /// pooler (PgBouncer) no named prepared statements and no session settings are
  /// used, and LISTEN does not work (consumers poll).
  std::string pooler = "none";
  /// A node commits its handled deliveries together, one transaction for all that are
  /// ready (each in a savepoint); false: one transaction per delivery.
  bool group_commit = true;
};

/// The DSN to connect with: `dsn`, plus the password read from `password_file`.
caf::expected<std::string> effective_dsn(const database_config& db);

/// Terminal notifications; an empty url disables webhooks.
struct webhook_config {
  std::string url;
  int32_t max_attempts = 10;
  std::chrono::milliseconds timeout{5000};
};

/// The reaper: returns expired leases, finds stuck executions, prunes old tombstones
/// and replies (durable ask) older than `reply_retention`.
struct reaper_config {
  std::chrono::milliseconds interval{5000};
  std::chrono::milliseconds stuck_after{120000};
  std::chrono::milliseconds tombstone_retention{std::chrono::hours{24}};
  std::chrono::milliseconds reply_retention{std::chrono::hours{24}};
};

/// How long finished work is kept; the reaper's leader prunes what is older, in
/// statements of at most `batch` rows. An execution goes with everything it owns
/// (file results, uploaded blobs, its groups and arrivals, claim, outbox rows); one not
/// yet terminal is never touched.
struct retention_config {
  std::chrono::milliseconds completed{std::chrono::hours{24 * 7}};  // COMPLETED executions
  std::chrono::milliseconds failed{std::chrono::hours{24 * 30}};    // ERROR and STOPPED
  std::chrono::milliseconds dead_letters{std::chrono::hours{24 * 30}};
  std::chrono::milliseconds outbox_delivered{std::chrono::hours{24}};
  /// Keyed actors with no state, nothing queued, no reminder and no block, unchanged
  /// this long, are deleted (a later send starts them afresh); 0: never.
  std::chrono::milliseconds idle_actors{std::chrono::hours{24 * 30}};
  int32_t batch = 1000;
};

/// A keyed actor type's policies (topology `actor_types:`, by type name).
struct actor_type_config {
  /// A head poisoned (max_attempts, reject, undecodable): "hold" blocks its key until an
  /// operator retries, skips or drops it; "skip" dead-letters it and goes on.
  std::string on_poison = "hold";
};

/// A handler written in any language: a program postbox starts and keeps, fed one
/// message at a time as a JSON line on stdin, answering one JSON line on stdout
/// (docs/programs.md). A node runs it with `{ program: NAME }`.
struct program_config {
  std::string name;
  /// No shell; argv[0] is looked up on PATH unless it contains a '/'.
  std::vector<std::string> argv;
  /// The queue it serves, and the message types it handles there.
  std::string queue;
  std::vector<std::string> types;
  /// Processes, each handling one message at a time.
  int32_t concurrency = 1;
  /// The program's whole environment, besides PATH, HOME and LANG of the node's: the
  /// node's own (POSTBOX_DSN, the control token, ...) is never passed on.
  std::map<std::string, std::string> env;
};

/// A cron schedule (topology `schedules:`, by name): every tick sends one message
/// (guarantee 12). Declared by every node at start; docs/topology.md "Schedules".
struct schedule_config {
  std::string cron;  // 5 fields, or 6 with seconds first (config/cron.hpp)
  std::string timezone = "UTC";
  /// The message: {queue, type, payload[, headers, actor_type, actor_key]} as JSON.
  std::string send;
  std::string on_missed = "once";  // skip | once | all
  std::string overlap = "allow";   // allow | skip
  std::chrono::milliseconds catch_up_window{86400000};
};

/// One actor pool on a node. Roles: orchestrator, file_batch, callback (queue consumers whose
/// `queue` defaults to the role name), consumer (`{ queue: NAME }` alone: any queue, served by
/// the node's handlers for its messages' types), reaper and outbox (no queue; `queue` empty).
struct actor_config {
  std::string role;
  int32_t concurrency = 1;
  std::string queue;
  /// `{ program: NAME }`: a consumer of the program's queue whose workers each keep one
  /// process of it (concurrency defaults to the program's).
  std::string program;
};

/// One node (process). Ports of 0 mean "not published".
struct node_config {
  std::string name;
  std::string host = "127.0.0.1";
  uint16_t control_port = 0;
  uint16_t http_port = 0;
  /// Never empty in a loaded topology.
  std::vector<actor_config> actors;
};

/// The control plane: each node's control actor (CAF middleman) on its control_port.
/// A shared token (from the environment variable `token_env` or the file
/// `token_file`) is required from clients when set; TLS when `tls_certificate`,
/// `tls_key` and `tls_cafile` are set (every peer then needs a certificate of that CA).
struct control_config {
  std::string bind = "127.0.0.1";
  std::string token_env;
  std::string token_file;
  std::string tls_certificate;
  std::string tls_key;
  std::string tls_cafile;
  /// Every remote request has a deadline; dead peers are seen by heartbeat.
  std::chrono::milliseconds request_timeout{5000};
  std::chrono::milliseconds heartbeat{500};
  std::chrono::milliseconds connection_timeout{2000};

  bool tls() const { return !tls_certificate.empty(); }
};

/// Priorities (`priorities:`): aging (no starvation) and each message type's default tier.
struct priorities_config {
  /// A ready message moves up one tier per aging_after of waiting (the reaper's sweep).
  std::chrono::milliseconds aging_after{std::chrono::minutes{5}};
  /// A send that names no priority takes its type's tier from here (else normal).
  std::map<std::string, postbox::priority> types;
};

struct topology {
  /// Optional in the file; "postbox" when not given.
  std::string cluster = "postbox";
  database_config database;
  std::map<std::string, queue_config> queues;
  std::map<std::string, workflow_config> workflows;
  /// External programs that nodes may run as handlers.
  std::map<std::string, program_config> programs;
  webhook_config webhooks;
  /// Where usage records are POSTed (same shape as webhooks); without a url they stay
  /// pending in the outbox, undelivered.
  webhook_config usage;
  reaper_config reaper;
  retention_config retention;
  /// Policies of keyed actor types; a type not listed has the defaults.
  std::map<std::string, actor_type_config> actor_types;
  /// Cron schedules, by name.
  std::map<std::string, schedule_config> schedules;
  /// Limits per limit key (a message's limit_key), topology `limits:`.
  std::map<std::string, limit_config> limits;
  priorities_config priorities;
  control_config control;
  /// SIGTERM: how long a node waits for its deliveries in flight before it gives
  /// back what is left (uncharged) and exits 0.
  std::chrono::milliseconds drain_timeout{30000};
  /// Start: how long a node retries (with backoff, one log line per try) while the
  /// database cannot be reached (restarting, failing over) before it exits 1.
  std::chrono::milliseconds startup_timeout{60000};
  /// At least one in a loaded topology.
  std::map<std::string, node_config> nodes;
  /// The file (or source name) it was loaded from, for messages.
  std::string source;

  /// The listed queue, or the defaults for one that is not listed.
  const queue_config& queue(const std::string& name) const;
  /// The named node, or nullptr.
  const node_config* node(const std::string& name) const;
  /// The named program, or nullptr.
  const program_config* program(const std::string& name) const;
  /// Whether a consumer of this queue must claim through the limits: the queue has one,
  /// or the topology limits keys (any message may carry a limit_key).
  bool claims_limited(const std::string& queue) const;
  /// The listed actor type, or the defaults.
  const actor_type_config& actor_type(const std::string& name) const;
};

/// Loads and validates a topology file. Every problem is one errc::config_error whose text is
/// `FILE:LINE:COL: path.to.key: message` (`FILE: cannot read file` when it cannot be read).
/// `extra_processors` names registered processors besides the built-ins; their options are not
/// checked. Never throws.
caf::expected<topology> load_topology_file(const std::string& path,
                                           const std::set<std::string>& extra_processors = {});

/// Same as load_topology_file, for YAML text; `source_name` stands for the file in messages.
caf::expected<topology> load_topology_string(const std::string& yaml,
                                             const std::string& source_name,
                                             const std::set<std::string>& extra_processors = {});

/// Parses `500ms`, `30s`, `2m`, `1h` (a positive integer and a unit, nothing else).
caf::expected<std::chrono::milliseconds> parse_duration(const std::string& text);

}  // namespace postbox

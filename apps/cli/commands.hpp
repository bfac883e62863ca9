// The commands of the `postbox` client: what each one takes (filled by parse.cpp
// from the command line) and its body. A body returns the exit code: 0 success,
// 1 the command failed, 2 bad input, 3 (ask / reply) no reply in time.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "config/topology.hpp"

namespace postbox::cli {

/// The global options, and the topology they name (loaded before the command runs).
struct invocation {
  std::string dsn;
  std::string topology_path;
  std::optional<topology> topo;
  bool json = false;
};

struct submit_args {
  std::string workflow;
  std::vector<std::string> paths;
  bool upload = false;
  int batch_size = 0;  // 0: the workflow's default
  std::string org;
  bool wait = false;
};

struct executions_args {
  std::string status;  // upper case; empty: any
  std::string workflow;
  int limit = 20;
};

struct send_args {
  std::string queue, type, json_payload;
  std::string actor;      // TYPE/KEY; empty: not to an actor
  std::string limit_key;  // empty: none
  std::string headers = "{}";
  std::optional<std::string> on_success, on_error;
  std::string priority;  // low|normal|high|urgent; empty: the type's default
  bool force = false;
  std::string dedup_key;                 // empty: none
  std::string dedup_mode;                // until_done (default), ttl, replace
  std::optional<std::string> dedup_ttl;  // with ttl: 30s, 10m
};

struct ask_args {
  std::string queue, type, json_payload;
  std::string headers = "{}";
  std::string timeout = "30s";
  std::string request_id;
};

struct reply_args {
  std::string request_id;
  std::string wait;  // empty: look once
};

struct actors_args {
  bool blocked = false;
  std::string actor_type;  // empty: every type
  int limit = 50;
};

enum class control_verb { pause, resume, drain };

int migrate(const invocation& inv);
int submit(const invocation& inv, const submit_args& args);
int status(const invocation& inv, const std::string& execution_id);
int watch(const invocation& inv, const std::string& execution_id);
int cancel(const invocation& inv, const std::string& execution_id);
int executions(const invocation& inv, const executions_args& args);
int queues(const invocation& inv);
int schedules(const invocation& inv);
/// pause, resume or trigger the schedule `name`.
int schedule_verb(const invocation& inv, const std::string& verb, const std::string& name);
int nodes(const invocation& inv);
int dead_letters_list(const invocation& inv, int limit);
int dead_letters_show(const invocation& inv, int id);
int dead_letters_retry(const invocation& inv, int id);
int send(const invocation& inv, const send_args& args);
int ask(const invocation& inv, const ask_args& args);
int reply(const invocation& inv, const reply_args& args);
/// postbox actors: the actor types, then keyed actors, blocked ones first.
int actors(const invocation& inv, const actors_args& args);
/// postbox actor show TYPE KEY.
int actor_show(const invocation& inv, const std::string& actor_type, const std::string& actor_key);
/// postbox actor retry|skip|drop TYPE KEY (a blocked actor).
int actor_verb(const invocation& inv, const std::string& verb, const std::string& actor_type,
               const std::string& actor_key);
/// pause / resume QUEUE, drain NODE: through the control actor of a node.
int control(const invocation& inv, control_verb verb, const std::string& target);

}  // namespace postbox::cli

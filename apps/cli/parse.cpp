// The `postbox` command line, on CLI11 (Debian's libcli11-dev, header-only): each
// command is a subcommand with its own --help (usage, options, exit codes), typed
// options and validators; a bad invocation is one line and exit code 2
// (actors/runtime/command_line.hpp). This file defines and dispatches; the commands
// are in commands_*.cpp.
#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <functional>
#include <iostream>
#include <tuple>

#include "actors/runtime/command_line.hpp"
#include "apps/cli/cli.hpp"
#include "apps/cli/commands.hpp"
#include "apps/cli/support.hpp"
#include "postbox/execution_status.hpp"
#include "postbox/version.hpp"

namespace postbox::cli {

namespace {

using command_line::exit_codes;
using command_line::positive_integer;

const char* globals_note =
    "Global options (--dsn, --topology, --json) go before or after the command: see "
    "postbox --help.";

/// `500ms`, `30s`, `2m`, `1h`.
CLI::Validator duration() {
  return CLI::Validator(
      [](std::string& text) -> std::string {
        auto d = parse_duration(text);
        return d ? "" : describe(d.error());
      },
      "");
}

/// An execution status in any case; made upper case (a transform, so the option gets it).
CLI::Validator execution_status_name() {
  return CLI::Validator(
      [](std::string& text) -> std::string {
        std::string upper = text;
        std::transform(upper.begin(), upper.end(), upper.begin(),
                       [](unsigned char c) { return static_cast<char>(std::toupper(c)); });
        if (!parse_execution_status(upper))
          return "must be QUEUED, EXECUTING, COMPLETED, ERROR or STOPPED, got '" + text + "'";
        text = upper;
        return "";
      },
      "");
}

/// TYPE/KEY: a type and a key (which may hold '/'), neither empty, each 1-256 bytes.
CLI::Validator actor_address() {
  return CLI::Validator(
      [](std::string& text) -> std::string {
        const auto slash = text.find('/');
        if (slash == std::string::npos || slash == 0 || slash + 1 == text.size())
          return "must be TYPE/KEY (e.g. account/42), got '" + text + "'";
        if (slash > 256 || text.size() - slash - 1 > 256)
          return "an actor's type and key are 1 to 256 bytes each";
        return "";
      },
      "");
}

CLI::App* command(CLI::App& parent, const std::string& name, const std::string& description,
                  const std::string& exit_code_text) {
  auto* sub = parent.add_subcommand(name, description);
  sub->group("Commands");
  sub->footer(exit_code_text + "\n" + globals_note);
  return sub;
}

/// `postbox help [COMMAND [SUBCOMMAND]]`: the --help of that command.
int print_help(const CLI::App& app, const std::vector<std::string>& topic) {
  const CLI::App* at = &app;
  std::string path = app.get_name();
  for (const auto& word : topic) {
    auto found = at->get_subcommands([&](const CLI::App* s) { return s->get_name() == word; });
    if (found.empty())
      return fail("help: unknown command '" + word + "' (see " + path + " --help)", 2);
    at = found.front();
    path += " " + word;
  }
  std::cout << at->get_formatter()->make_help(at, path, CLI::AppFormatMode::Normal);
  return 0;
}

/// Loads the topology and settles the DSN: --dsn, else $POSTBOX_DSN, else the
/// topology's database.dsn. 0, or the exit code of the failure.
int settle_database(invocation& inv) {
  // --dsn also fills ${POSTBOX_DSN} in the topology (as the variable would).
  if (!inv.dsn.empty()) ::setenv("POSTBOX_DSN", inv.dsn.c_str(), 0);
  if (!inv.topology_path.empty()) {
    auto topo = load_topology_file(inv.topology_path);
    if (!topo) return fail(describe(topo.error()), 2);
    if (inv.dsn.empty()) {
      auto dsn = effective_dsn(topo->database);
      if (!dsn) return fail(describe(dsn.error()), 2);
      inv.dsn = *dsn;
    }
    inv.topo = std::move(*topo);
  }
  if (inv.dsn.empty())
    return fail("no database: pass --dsn, set POSTBOX_DSN, or give a --topology", 2);
  return 0;
}

}  // namespace

int run(int argc, char** argv) {
  CLI::App app{
      "postbox: the client of a postbox cluster. It talks to PostgreSQL (and, for "
      "pause, resume, drain and live progress, to a node's control actor).",
      "postbox"};
  command_line::configure(app);
  app.require_subcommand(0, 1);
  invocation inv;
  app.add_option("--dsn", inv.dsn,
                 "the database (libpq keywords or a postgresql:// URI); also fills "
                 "${POSTBOX_DSN} in the topology when that variable is unset")
      ->type_name("DSN")
      ->envname("POSTBOX_DSN");
  app.add_option("--topology", inv.topology_path,
                 "the topology file: its database.dsn when no --dsn / $POSTBOX_DSN, its "
                 "workflows, nodes, control plane and pooler")
      ->type_name("FILE")
      ->envname("POSTBOX_TOPOLOGY");
  app.add_flag("--json", inv.json, "print JSON (one document on stdout) instead of tables");
  app.set_version_flag("--version", version_line("postbox"),
                       "print the version and the schema version it needs, and exit");

  // The command that parsed, bound to its arguments; run after the database is settled.
  std::function<int()> selected;
  auto on = [&selected](CLI::App* sub, std::function<int()> body) {
    sub->callback([&selected, body] { selected = body; });
  };

  auto* migrate_cmd =
      command(app, "migrate",
              "Applies the schema migrations this binary embeds (idempotent). A database "
              "a newer postbox migrated is refused.",
              exit_codes("the schema is up to date",
                         "migration failed, or the schema is newer "
                         "than this binary"));
  on(migrate_cmd, [&] { return migrate(inv); });

  submit_args submit_a;
  auto* submit_cmd =
      command(app, "submit",
              "Creates an execution of a workflow over the files (folders are walked, sorted) and "
              "prints its id; with --wait follows it to the end and prints it as status does.",
              exit_codes("submitted (with --wait: the execution COMPLETED)",
                         "submit failed (with --wait: the execution ended ERROR or STOPPED)",
                         "bad invocation, unknown workflow, a PATH that does not exist"));
  submit_cmd->add_option("--workflow", submit_a.workflow, "the workflow (one of the topology's)")
      ->type_name("NAME")
      ->required();
  submit_cmd->add_flag("--upload", submit_a.upload,
                       "store the files' contents in PostgreSQL (for nodes on other hosts)");
  submit_cmd
      ->add_option("--batch-size", submit_a.batch_size,
                   "files per batch (default: the workflow's batch_size)")
      ->type_name("N")
      ->check(positive_integer());
  submit_cmd->add_option("--org", submit_a.org, "the organisation recorded with the execution")
      ->type_name("ORG");
  submit_cmd->add_flag("--wait", submit_a.wait,
                       "follow progress until the execution is terminal (live from a node's "
                       "control actor, else polling PostgreSQL)");
  submit_cmd->add_option("PATH", submit_a.paths, "files and folders")->type_name("")->required();
  on(submit_cmd, [&] { return submit(inv, submit_a); });

  std::string execution_id;
  auto add_execution_id = [&](CLI::App* sub) {
    sub->add_option("EXECUTION_ID", execution_id, "the execution (as submit printed it)")
        ->type_name("")
        ->required();
  };
  auto* status_cmd = command(app, "status",
                             "Prints an execution: id, workflow, status, file counts (total, "
                             "done, failed, not run) and its error.",
                             exit_codes("printed", "no such execution, or the database failed"));
  add_execution_id(status_cmd);
  on(status_cmd, [&] { return status(inv, execution_id); });

  auto* watch_cmd = command(
      app, "watch",
      "Shows progress until the execution is terminal (live updates from a node's control "
      "actor when one answers, else polling PostgreSQL), then prints it as status does.",
      exit_codes("the execution COMPLETED", "it ended ERROR or STOPPED, or no such execution"));
  add_execution_id(watch_cmd);
  on(watch_cmd, [&] { return watch(inv, execution_id); });

  auto* cancel_cmd = command(
      app, "cancel",
      "Stops an execution at once (STOPPED): nothing of it commits afterwards. An execution "
      "already terminal is left as it is and reported (--json: \"cancelled\": false).",
      exit_codes("stopped, or already terminal", "no such execution, or the database failed"));
  add_execution_id(cancel_cmd);
  on(cancel_cmd, [&] { return cancel(inv, execution_id); });

  executions_args executions_a;
  auto* executions_cmd = command(app, "executions", "Lists executions, newest first.",
                                 exit_codes("listed", "the database failed"));
  executions_cmd
      ->add_option("--status", executions_a.status,
                   "only this status: QUEUED, EXECUTING, COMPLETED, ERROR or STOPPED (any case)")
      ->type_name("S")
      ->transform(execution_status_name());
  executions_cmd->add_option("--workflow", executions_a.workflow, "only this workflow")
      ->type_name("W");
  executions_cmd->add_option("--limit", executions_a.limit, "at most N")
      ->type_name("N")
      ->check(positive_integer())
      ->capture_default_str();
  on(executions_cmd, [&] { return executions(inv, executions_a); });

  auto* queues_cmd = command(app, "queues",
                             "Per queue: messages ready, in flight, delayed, dead-lettered, and "
                             "the age of the oldest waiting one.",
                             exit_codes("listed", "the database failed"));
  on(queues_cmd, [&] { return queues(inv); });

  auto* schedules_cmd = command(
      app, "schedules",
      "Cron schedules: cron, zone, next and last tick (UTC), state (active, paused, stale: a "
      "topology schedule no live node declares, error), ticks sent and missed; or pause, "
      "resume or trigger one.",
      exit_codes("done", "no such schedule, or the database failed"));
  schedules_cmd->require_subcommand(0, 1);
  bool schedule_verb_given = false;
  schedules_cmd->callback([&] {
    if (!schedule_verb_given) selected = [&] { return schedules(inv); };
  });
  std::string schedule_name;
  for (auto [verb, what] :
       {std::make_tuple("pause",
                        "Stops firing the schedule (its ticks are not sent until resumed)."),
        std::make_tuple("resume",
                        "Fires the schedule again from its next tick after now (the paused time "
                        "is not caught up)."),
        std::make_tuple("trigger",
                        "Sends one extra run now (recorded as 'triggered'); the regular ticks are "
                        "not moved.")}) {
    auto* sub = command(*schedules_cmd, verb, what,
                        exit_codes("done", "no such schedule, or the database failed"));
    sub->add_option("NAME", schedule_name, "the schedule")->type_name("")->required();
    sub->callback([&selected, &schedule_verb_given, &inv, &schedule_name, verb = verb] {
      schedule_verb_given = true;
      selected = [&inv, &schedule_name, verb] { return schedule_verb(inv, verb, schedule_name); };
    });
  }

  auto* nodes_cmd =
      command(app, "nodes",
              "The nodes that registered: live or stale by heartbeat (stale after 10s), "
              "address, roles, pid, and which one leads the reaper.",
              exit_codes("listed", "the database failed"));
  on(nodes_cmd, [&] { return nodes(inv); });

  auto* dead_cmd =
      command(app, "dead-letters",
              "Messages given up on (poison, attempts exhausted, no handler): list them, show "
              "one, re-enqueue one.",
              exit_codes("done", "the command failed"));
  dead_cmd->require_subcommand(0, 1);
  // A subcommand's callback runs before its parent's: the parent's fills the slot only
  // when no list / show / retry did.
  bool dead_letters_given = false;
  dead_cmd->callback([&] {
    if (!dead_letters_given)
      selected = [] { return fail("dead-letters needs list, show ID or retry ID", 2); };
  });
  int dead_limit = 50;
  auto* dead_list = command(*dead_cmd, "list", "Lists dead letters, newest first.",
                            exit_codes("listed", "the database failed"));
  dead_list->add_option("--limit", dead_limit, "at most N")
      ->type_name("N")
      ->check(positive_integer())
      ->capture_default_str();
  int dead_id = 0;
  auto add_dead_id = [&](CLI::App* sub) {
    sub->add_option("ID", dead_id, "the dead letter's id (dead-letters list, column ID)")
        ->type_name("")
        ->check(positive_integer())
        ->required();
  };
  auto* dead_show =
      command(*dead_cmd, "show", "Prints one dead letter, with its payload and headers.",
              exit_codes("printed", "no such dead letter, or the database failed"));
  add_dead_id(dead_show);
  auto* dead_retry =
      command(*dead_cmd, "retry",
              "Re-enqueues a dead letter as a new message (once: a second retry is refused; a "
              "pipeline message whose payload no longer decodes is refused).",
              exit_codes("re-enqueued", "the database failed",
                         "bad invocation, already retried, or the payload is refused"));
  add_dead_id(dead_retry);
  auto on_dead = [&](CLI::App* sub, std::function<int()> body) {
    sub->callback([&selected, &dead_letters_given, body] {
      dead_letters_given = true;
      selected = body;
    });
  };
  on_dead(dead_list, [&] { return dead_letters_list(inv, dead_limit); });
  on_dead(dead_show, [&] { return dead_letters_show(inv, dead_id); });
  on_dead(dead_retry, [&] { return dead_letters_retry(inv, dead_id); });

  const std::string continuation_help =
      R"( (a continuation {"queue": Q, "type": T, "payload": {...}}))";
  send_args send_a;
  auto* send_cmd =
      command(app, "send",
              "Puts any message on a queue, or sends it to a keyed actor (--actor TYPE/KEY: "
              "handled after every message sent to that actor before). The pipeline's types "
              "are validated; other types need a JSON object. A type no node handles on the "
              "queue is refused unless --force.",
              exit_codes("sent (prints the message id)", "the database failed",
                         "bad invocation, a payload or header that does not decode, a type no node "
                         "handles there, an actor type no node serves and no --queue"));
  send_cmd
      ->add_option("--queue", send_a.queue,
                   "the queue (required unless --actor: then the actor type's queue)")
      ->type_name("Q");
  send_cmd
      ->add_option("--actor", send_a.actor,
                   "to the keyed actor TYPE/KEY (the key is what follows the first '/', 1 to "
                   "256 bytes)")
      ->type_name("TYPE/KEY")
      ->check(actor_address());
  send_cmd
      ->add_option("--limit-key", send_a.limit_key,
                   "count it against the topology's limits.KEY (max_in_flight, rate) across "
                   "the cluster (1 to 256 bytes)")
      ->type_name("KEY");
  send_cmd->add_option("--type", send_a.type, "the message type")->type_name("T")->required();
  send_cmd->add_option("--json-payload", send_a.json_payload, "the payload")
      ->type_name("JSON")
      ->required();
  send_cmd->add_option("--headers", send_a.headers, "headers (a JSON object)")
      ->type_name("JSON")
      ->capture_default_str();
  send_cmd
      ->add_option_function<std::string>(
          "--on-success", [&](const std::string& c) { send_a.on_success = c; },
          "sent when the handler succeeds" + continuation_help)
      ->type_name("C");
  send_cmd
      ->add_option_function<std::string>(
          "--on-error", [&](const std::string& c) { send_a.on_error = c; },
          "sent when the message is dead-lettered" + continuation_help)
      ->type_name("C");
  send_cmd
      ->add_option("--priority", send_a.priority,
                   "its tier: low, normal, high or urgent (claimed highest first; default: "
                   "the type's in the topology's priorities.types, else normal)")
      ->type_name("TIER")
      ->check(CLI::IsMember({"low", "normal", "high", "urgent"}));
  send_cmd->add_flag("--force", send_a.force, "send even when no node handles the type there");
  send_cmd
      ->add_option("--dedup-key", send_a.dedup_key,
                   "a dedup key (1 to 512 bytes): while a message with it is live on the queue, "
                   "nothing is sent and the live message's id is printed with duplicate: true")
      ->type_name("K");
  send_cmd
      ->add_option("--dedup", send_a.dedup_mode,
                   "the key's mode: until_done (default: until the live message's ack or dead "
                   "letter), ttl (also for --dedup-ttl after the first send), replace (a live "
                   "message not running gets this payload)")
      ->type_name("MODE")
      ->check(CLI::IsMember({"until_done", "ttl", "replace"}));
  send_cmd
      ->add_option_function<std::string>(
          "--dedup-ttl", [&](const std::string& d) { send_a.dedup_ttl = d; },
          "with --dedup ttl: how long the key refuses sends after the first: 30s, 10m")
      ->type_name("D")
      ->check(duration());
  on(send_cmd, [&] { return send(inv, send_a); });

  ask_args ask_a;
  auto* ask_cmd =
      command(app, "ask",
              "Sends a request and prints the handler's reply (its JSON body; with --json the "
              "request, message id and status around it).",
              exit_codes("the reply, printed", "the request was dead-lettered, or ask failed", "",
                         "3  no reply within --timeout (the request may still answer: "
                         "postbox reply REQUEST_ID)"));
  ask_cmd->add_option("--queue", ask_a.queue, "the queue")->type_name("Q")->required();
  ask_cmd->add_option("--type", ask_a.type, "the message type")->type_name("T")->required();
  ask_cmd->add_option("--json-payload", ask_a.json_payload, "the payload")
      ->type_name("JSON")
      ->required();
  ask_cmd->add_option("--timeout", ask_a.timeout, "how long to wait: 500ms, 30s, 2m, 1h")
      ->type_name("D")
      ->check(duration())
      ->capture_default_str();
  ask_cmd->add_option("--headers", ask_a.headers, "headers (a JSON object)")
      ->type_name("JSON")
      ->capture_default_str();
  ask_cmd
      ->add_option("--request-id", ask_a.request_id,
                   "the request's id (default: a new one); postbox reply fetches by it")
      ->type_name("ID");
  on(ask_cmd, [&] { return ask(inv, ask_a); });

  reply_args reply_a;
  auto* reply_cmd =
      command(app, "reply", "Prints the stored reply to an earlier ask.",
              exit_codes("the reply, printed", "the request was dead-lettered, or reply failed", "",
                         "3  no reply yet (or within --wait)"));
  reply_cmd->add_option("REQUEST_ID", reply_a.request_id, "the request (as ask named it)")
      ->type_name("")
      ->required();
  reply_cmd->add_option("--wait", reply_a.wait, "wait up to D for it (default: look once)")
      ->type_name("D")
      ->check(duration());
  on(reply_cmd, [&] { return reply(inv, reply_a); });

  actors_args actors_a;
  auto* actors_cmd =
      command(app, "actors",
              "Lists the actor types (queue, poison policy, keys with a backlog, blocked keys, "
              "oldest head), then keyed actors, blocked ones first: type, key, queue, head "
              "message, backlog (its queued messages), turns, since when and why it is "
              "blocked. --json: {\"types\": [...], \"actors\": [...]}.",
              exit_codes("listed", "the database failed"));
  actors_cmd->add_flag("--blocked", actors_a.blocked,
                       "only actors held by a poisoned head (on_poison: hold)");
  actors_cmd->add_option("--type", actors_a.actor_type, "only this actor type")->type_name("T");
  actors_cmd->add_option("--limit", actors_a.limit, "at most N")
      ->type_name("N")
      ->check(positive_integer())
      ->capture_default_str();
  on(actors_cmd, [&] { return actors(inv, actors_a); });

  auto* actor_cmd = command(app, "actor",
                            "One keyed actor: show it, or unblock it when a poisoned head holds it "
                            "(on_poison: hold): retry, skip or drop.",
                            exit_codes("done", "the command failed"));
  actor_cmd->require_subcommand(0, 1);
  bool actor_given = false;
  actor_cmd->callback([&] {
    if (!actor_given)
      selected = [] { return fail("actor needs show, retry, skip or drop TYPE KEY", 2); };
  });
  std::string actor_type, actor_key;
  const std::string refused =
      "refused: the actor is not blocked or does not exist (nothing changed), or the "
      "database failed";
  for (auto [verb, what, ok] :
       {std::make_tuple("show",
                        "Prints an actor without a turn: its last committed state and version, "
                        "its head message, backlog, turns, and whether (and why) it is blocked.",
                        "printed"),
        std::make_tuple("retry",
                        "Runs the blocked head again, its attempts forgiven; the key then goes on "
                        "in order.",
                        "the head runs again"),
        std::make_tuple("skip",
                        "Dead-letters the blocked head through the regular poison path (its "
                        "dead letter, its execution ERROR, its on_error, its group arrival); the "
                        "key's next message becomes its head.",
                        "the head was dead-lettered"),
        std::make_tuple("drop",
                        "Dead-letters the blocked head AND every message queued for the key, as "
                        "a handler's outcome::drop does: no execution fails and no on_error is "
                        "sent (a group member still arrives, with the reason). All in one "
                        "transaction; the key goes on empty (messages sent afterwards run).",
                        "the key's messages were dead-lettered")}) {
    bool show = std::string(verb) == "show";
    auto* sub = command(*actor_cmd, verb, what,
                        exit_codes(ok, show ? "no such actor, or the database failed" : refused));
    sub->add_option("TYPE", actor_type, "the actor type")->type_name("")->required();
    sub->add_option("KEY", actor_key, "the actor's key")->type_name("")->required();
    sub->callback([&selected, &actor_given, &inv, &actor_type, &actor_key, verb = verb, show] {
      actor_given = true;
      selected = [&inv, &actor_type, &actor_key, verb, show] {
        return show ? actor_show(inv, actor_type, actor_key)
                    : actor_verb(inv, verb, actor_type, actor_key);
      };
    });
  }

  std::string target;
  const std::string via_control =
      " Through the control plane: the first node whose control actor answers.";
  for (auto [name, verb, what] :
       {std::make_tuple("pause", control_verb::pause,
                        "Stops claiming QUEUE on every node (queued messages wait)."),
        std::make_tuple("resume", control_verb::resume, "Restarts claiming QUEUE on every node."),
        std::make_tuple("drain", control_verb::drain,
                        "The node NODE stops claiming, finishes what it holds and exits 0.")}) {
    auto* sub = command(app, name, what + via_control,
                        exit_codes("done", "no node answered, or the node refused"));
    bool drain = verb == control_verb::drain;
    sub->add_option(drain ? "NODE" : "QUEUE", target,
                    drain ? "the node (see postbox nodes)" : "the queue")
        ->type_name("")
        ->required();
    on(sub, [&inv, &target, verb = verb] { return control(inv, verb, target); });
  }

  std::vector<std::string> help_topic;
  auto* help_cmd = command(app, "help", "Prints the help of a command: postbox help COMMAND.", "");
  help_cmd->footer("Exit codes:\n  0  printed\n  2  an unknown command");
  help_cmd->add_option("COMMAND", help_topic, "a command (and its subcommand)")->type_name("");

  app.footer(
      "DSN: --dsn, else $POSTBOX_DSN, else database.dsn of --topology ($POSTBOX_TOPOLOGY).\n"
      "postbox COMMAND --help (or postbox help COMMAND) describes a command.\n"
      "Exit codes: 0 success, 1 the command failed, 2 bad invocation (unknown command or "
      "option, missing or invalid value), 3 ask / reply: no reply in time.");

  if (auto exit_code = command_line::parse(app, argc, argv)) return *exit_code;
  if (help_cmd->parsed()) return print_help(app, help_topic);
  if (!selected) return fail("no command given (see postbox --help)", 2);
  if (int rc = settle_database(inv); rc != 0) return rc;
  return selected();
}

}  // namespace postbox::cli

// postbox migrate, submit, status, watch, cancel, executions: the schema and executions.
#include <unistd.h>

#include <chrono>
#include <functional>
#include <iostream>
#include <sstream>

#include "apps/cli/commands.hpp"
#include "apps/cli/support.hpp"
#include "apps/table.hpp"
#include "client/control_client.hpp"
#include "persistence/migrator.hpp"

namespace postbox::cli {

namespace {

namespace json = boost::json;

/// Progress while waiting: a bar on a terminal, one line per change otherwise.
struct progress_printer {
  bool tty = ::isatty(STDERR_FILENO);
  std::chrono::steady_clock::time_point start = std::chrono::steady_clock::now();
  std::string last;

  void operator()(const execution_record& e) {
    int done = e.files_done + e.files_failed;
    double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    int rate = secs > 0.2 ? static_cast<int>(done / secs) : 0;
    std::ostringstream line;
    if (tty) {
      int width = 30;
      int filled = e.files_total > 0 ? width * done / e.files_total : 0;
      line << "\r[" << std::string(filled, '#') << std::string(width - filled, '.') << "] ";
    }
    line << to_string(e.status) << " " << done << "/" << e.files_total << " files, "
         << e.files_failed << " failed, " << rate << " files/s";
    if (tty) {
      std::cerr << line.str() << "   " << std::flush;
      if (is_terminal(e.status)) std::cerr << "\n";
    } else if (line.str() != last) {
      std::cerr << line.str() << "\n";
    }
    last = line.str();
  }
};

/// Follows an execution: pushed updates from a node's control actor when one
/// answers, else polling Postgres (the source of truth).
int follow(const invocation& inv, client& c, const std::string& id) {
  progress_printer progress;
  std::function<void(const execution_record&)> show;
  if (!inv.json) show = std::ref(progress);
  auto targets = control_targets(inv.topo ? &*inv.topo : nullptr, c.inspect());
  if (!targets.empty()) {
    control_client control{inv.topo ? inv.topo->control : control_config{},
                           client_control_token(inv.topo ? &*inv.topo : nullptr)};
    auto node = control.connect(targets);
    if (node) {
      if (!inv.json) std::cerr << "live updates from node " << *node << "\n";
      auto e = control.watch(id, show);
      if (e) {
        print_execution(*e, inv.json);
        return e->status == execution_status::completed ? 0 : 1;
      }
      if (!inv.json)
        std::cerr << "\ncontrol plane: " << describe(e.error()) << "; polling Postgres\n";
    } else if (!inv.json) {
      std::cerr << "control plane unreachable (" << describe(node.error())
                << "); polling Postgres\n";
    }
  }
  auto e = c.wait(id, show);
  if (!e) return fail(e.error(), "watch " + id);
  print_execution(*e, inv.json);
  return e->status == execution_status::completed ? 0 : 1;
}

}  // namespace

int migrate(const invocation& inv) {
  pg_session session{session_for(inv)};
  auto report = postbox::migrate(session);
  if (!report && is(report.error(), errc::schema_newer)) return fail(detail_of(report.error()));
  if (!report) return fail(report.error(), "migrate failed");
  if (inv.json) {
    json::object o;
    o["version"] = report->current_version;
    json::array applied;
    for (const auto& name : report->applied) applied.emplace_back(name);
    o["applied"] = std::move(applied);
    std::cout << json::serialize(o) << "\n";
  } else if (report->applied.empty()) {
    std::cout << "schema is up to date (version " << report->current_version << ")\n";
  } else {
    for (const auto& name : report->applied) std::cout << "applied " << name << "\n";
    std::cout << "schema is at version " << report->current_version << "\n";
  }
  return 0;
}

int submit(const invocation& inv, const submit_args& args) {
  submit_request req;
  req.workflow = args.workflow;
  req.org = args.org;
  req.upload = args.upload;
  req.paths = args.paths;
  req.batch_size = args.batch_size;
  if (req.workflow.empty()) return fail("submit: --workflow: must name a workflow", 2);
  if (inv.topo && !inv.topo->workflows.count(req.workflow)) {
    std::string names;
    for (const auto& [name, _] : inv.topo->workflows) names += (names.empty() ? "" : ", ") + name;
    return fail("unknown workflow '" + req.workflow + "' (workflows: " + names + ")", 2);
  }
  if (auto files = collect_files(req.paths); !files) return fail(describe(files.error()), 2);
  client c{session_for(inv)};
  auto sub = c.submit(req);
  if (!sub) return fail(sub.error(), "submit failed");
  if (args.wait) {
    if (!inv.json) std::cerr << "submitted " << sub->execution_id << "\n";
    return follow(inv, c, sub->execution_id);
  }
  if (inv.json) {
    json::object out;
    out["execution_id"] = sub->execution_id;
    out["status"] = "QUEUED";
    std::cout << json::serialize(out) << "\n";
  } else {
    std::cout << sub->execution_id << "\n";
  }
  return 0;
}

int status(const invocation& inv, const std::string& execution_id) {
  client c{session_for(inv)};
  auto e = c.status(execution_id);
  if (!e) {
    if (is(e.error(), errc::not_found)) return fail("no execution " + execution_id);
    return fail(e.error(), "status failed");
  }
  print_execution(*e, inv.json);
  return 0;
}

int cancel(const invocation& inv, const std::string& execution_id) {
  client c{session_for(inv)};
  auto r = c.cancel(execution_id);
  if (!r) {
    if (is(r.error(), errc::not_found)) return fail("no execution " + execution_id);
    return fail(r.error(), "cancel failed");
  }
  // Cancelling a terminal execution is no error: the caller's wish (it does not run)
  // holds either way, and scripts can tell the two apart by `cancelled`.
  if (inv.json) {
    json::object out{{"execution_id", execution_id},
                     {"status", to_string(r->status)},
                     {"cancelled", r->cancelled}};
    std::cout << json::serialize(out) << "\n";
  } else if (r->cancelled) {
    std::cout << "cancelled " << execution_id << ": STOPPED\n";
  } else {
    std::cout << "already " << to_string(r->status) << ": nothing to cancel\n";
  }
  return 0;
}

int watch(const invocation& inv, const std::string& execution_id) {
  client c{session_for(inv)};
  auto e = c.status(execution_id);
  if (!e) {
    if (is(e.error(), errc::not_found)) return fail("no execution " + execution_id);
    return fail(e.error(), "watch failed");
  }
  return follow(inv, c, execution_id);
}

int executions(const invocation& inv, const executions_args& args) {
  std::optional<std::string> status, workflow;
  if (!args.status.empty()) status = args.status;
  if (!args.workflow.empty()) workflow = args.workflow;
  client c{session_for(inv)};
  auto list = c.inspect().executions(status, workflow, args.limit);
  if (!list) return fail(list.error(), "executions failed");
  if (inv.json) {
    json::array out;
    for (const auto& e : *list) out.push_back(execution_json(e));
    std::cout << json::serialize(out) << "\n";
    return 0;
  }
  std::vector<std::vector<std::string>> rows;
  for (const auto& e : *list)
    rows.push_back({e.id, e.workflow, to_string(e.status),
                    std::to_string(e.files_done) + "/" + std::to_string(e.files_total),
                    std::to_string(e.files_failed), ago(now_epoch() - e.created_epoch)});
  print_table(std::cout, {"EXECUTION", "WORKFLOW", "STATUS", "DONE", "FAILED", "CREATED"}, rows);
  return 0;
}

}  // namespace postbox::cli

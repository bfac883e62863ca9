// Commands of the `postbox` client. Errors go to stderr as one line; the exit
// code is 0 on success, 1 when the command failed, 2 on a bad invocation.
#include "apps/cli.hpp"

#include <unistd.h>

#include <algorithm>
#include <boost/json.hpp>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <random>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "config/topology.hpp"
#include "messages/json_codec.hpp"
#include "messages/messages.hpp"
#include "persistence/blob_store.hpp"
#include "persistence/execution_store.hpp"
#include "persistence/file_results_store.hpp"
#include "persistence/migrator.hpp"
#include "persistence/units_of_work.hpp"

namespace postbox::cli {

namespace {

namespace fs = std::filesystem;
namespace json = boost::json;

struct invocation {
  std::string dsn;
  std::string topology_path;
  bool json = false;
  std::string command;
  std::vector<std::string> args;
};

const char* usage =
    "usage: postbox [--dsn DSN] [--topology FILE] [--json] COMMAND [ARGS]\n"
    "commands:\n"
    "  migrate                         apply the schema migrations (idempotent)\n"
    "  submit --workflow NAME [--upload] [--batch-size N] [--org ORG] [--wait] PATH...\n"
    "                                  create an execution over the files (folders are walked)\n"
    "  status EXECUTION_ID             execution_id, workflow, status, file counts, error\n"
    "DSN defaults to $POSTBOX_DSN, then to database.dsn of the topology ($POSTBOX_TOPOLOGY).\n";

/// A failure to report: one line, and the exit code.
struct failure {
  std::string line;
  int code = 1;
};

int report(const failure& f) {
  std::cerr << "postbox: " << f.line << "\n";
  return f.code;
}

std::string new_execution_id() {
  std::random_device rd;
  std::mt19937_64 gen{
      (static_cast<uint64_t>(rd()) << 32) ^ rd() ^
      static_cast<uint64_t>(std::chrono::steady_clock::now().time_since_epoch().count())};
  uint64_t a = gen(), b = gen();
  a = (a & 0xffffffffffff0fffULL) | 0x0000000000004000ULL;  // version 4
  b = (b & 0x3fffffffffffffffULL) | 0x8000000000000000ULL;  // variant 1
  char out[37];
  std::snprintf(out, sizeof out, "%08x-%04x-%04x-%04x-%012llx", static_cast<unsigned>(a >> 32),
                static_cast<unsigned>((a >> 16) & 0xffff), static_cast<unsigned>(a & 0xffff),
                static_cast<unsigned>(b >> 48),
                static_cast<unsigned long long>(b & 0xffffffffffffULL));
  return out;
}

/// Files of PATH arguments: files as given (absolute), folders walked, sorted.
bool collect_files(const std::vector<std::string>& paths, std::vector<std::string>& out,
                   failure& f) {
  for (const auto& p : paths) {
    std::error_code ec;
    auto abs = fs::absolute(p, ec);
    if (ec || !fs::exists(abs, ec)) {
      f = {"no such file or folder: " + p, 2};
      return false;
    }
    if (fs::is_directory(abs, ec)) {
      std::vector<std::string> found;
      for (auto it = fs::recursive_directory_iterator(abs, ec); !ec && it != fs::end(it);
           it.increment(ec))
        if (it->is_regular_file()) found.push_back(it->path().lexically_normal().string());
      if (ec) {
        f = {"cannot walk " + p + ": " + ec.message(), 1};
        return false;
      }
      std::sort(found.begin(), found.end());
      out.insert(out.end(), found.begin(), found.end());
    } else {
      out.push_back(abs.lexically_normal().string());
    }
  }
  if (out.empty()) {
    f = {"no files to submit", 2};
    return false;
  }
  return true;
}

json::object status_json(const execution_record& e, const file_counts& live) {
  bool terminal = is_terminal(e.status);
  json::object o;
  o["execution_id"] = e.id;
  o["workflow"] = e.workflow;
  o["org"] = e.org;
  o["status"] = to_string(e.status);
  o["files_total"] = e.files_total;
  o["files_done"] = terminal ? e.files_done : live.done;
  o["files_failed"] = terminal ? e.files_failed : live.failed;
  o["error"] = e.error.empty() ? json::value(nullptr) : json::value(e.error);
  return o;
}

int print_status(const json::object& o, bool as_json) {
  if (as_json) {
    std::cout << json::serialize(o) << "\n";
    return 0;
  }
  auto str = [&](const char* k) {
    const auto& v = o.at(k);
    return v.is_string() ? std::string(v.as_string()) : v.is_null() ? "-" : json::serialize(v);
  };
  for (const char* k :
       {"execution_id", "workflow", "status", "files_total", "files_done", "files_failed", "error"})
    std::cout << std::left << std::string(k) + ":" << std::string(14 - std::string(k).size(), ' ')
              << str(k) << "\n";
  return 0;
}

int cmd_migrate(const invocation& inv) {
  pg_session session{{inv.dsn, "postbox-cli"}};
  auto report_ = migrate(session);
  if (!report_) return report({"migrate failed: " + describe(report_.error())});
  if (inv.json) {
    json::object o;
    o["version"] = report_->current_version;
    json::array applied;
    for (const auto& name : report_->applied) applied.emplace_back(name);
    o["applied"] = std::move(applied);
    std::cout << json::serialize(o) << "\n";
  } else if (report_->applied.empty()) {
    std::cout << "schema is up to date (version " << report_->current_version << ")\n";
  } else {
    for (const auto& name : report_->applied) std::cout << "applied " << name << "\n";
    std::cout << "schema is at version " << report_->current_version << "\n";
  }
  return 0;
}

int wait_for(pg_session& session, const std::string& id, bool as_json) {
  execution_store executions{session};
  file_results_store results{session};
  bool tty = !as_json && ::isatty(STDERR_FILENO);
  auto start = std::chrono::steady_clock::now();
  std::string last;
  for (;;) {
    auto e = executions.get(id);
    if (!e) return report({"status of " + id + " failed: " + describe(e.error())});
    auto live = results.counts(id);
    file_counts counts = live ? *live : file_counts{};
    if (!as_json) {
      int done =
          is_terminal(e->status) ? e->files_done + e->files_failed : counts.done + counts.failed;
      double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
      std::ostringstream line;
      line << to_string(e->status) << "  " << done << "/" << e->files_total << " files  ("
           << (is_terminal(e->status) ? e->files_failed : counts.failed) << " failed)  "
           << static_cast<int>(secs > 0 ? done / secs : 0) << " files/s";
      if (tty)
        std::cerr << "\r" << line.str() << "   " << std::flush;
      else if (line.str() != last)
        std::cerr << line.str() << "\n";
      last = line.str();
    }
    if (is_terminal(e->status)) {
      if (tty) std::cerr << "\n";
      print_status(status_json(*e, counts), as_json);
      return e->status == execution_status::completed ? 0 : 1;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
  }
}

int cmd_submit(const invocation& inv) {
  std::string workflow, org;
  int batch_size = 0;
  bool upload = false, wait = false;
  std::vector<std::string> paths;
  for (size_t i = 0; i < inv.args.size(); ++i) {
    const auto& a = inv.args[i];
    auto value = [&]() -> const std::string* {
      return i + 1 < inv.args.size() ? &inv.args[++i] : nullptr;
    };
    const std::string* v = nullptr;
    if (a == "--workflow" && (v = value())) {
      workflow = *v;
    } else if (a == "--org" && (v = value())) {
      org = *v;
    } else if (a == "--batch-size" && (v = value())) {
      char* end = nullptr;
      long n = std::strtol(v->c_str(), &end, 10);
      if (*end || n <= 0 || n > 100000)
        return report({"--batch-size wants a positive integer, got '" + *v + "'", 2});
      batch_size = static_cast<int>(n);
    } else if (a == "--upload") {
      upload = true;
    } else if (a == "--wait") {
      wait = true;
    } else if (!a.empty() && a[0] == '-') {
      return report({"submit: unknown or incomplete option '" + a + "'", 2});
    } else {
      paths.push_back(a);
    }
  }
  if (workflow.empty()) return report({"submit needs --workflow NAME", 2});
  if (!inv.topology_path.empty()) {
    auto topo = load_topology_file(inv.topology_path);
    if (!topo) return report({describe(topo.error()), 2});
    if (!topo->workflows.count(workflow)) {
      std::string names;
      for (const auto& [name, _] : topo->workflows) names += (names.empty() ? "" : ", ") + name;
      return report({"unknown workflow '" + workflow + "' (workflows: " + names + ")", 2});
    }
  }
  failure f;
  std::vector<std::string> files;
  if (!collect_files(paths, files, f)) return report(f);

  pg_session session{{inv.dsn, "postbox-cli"}};
  execute_workflow msg;
  msg.org = org;
  msg.workflow = workflow;
  msg.execution_id = new_execution_id();
  msg.batch_size = batch_size;
  if (upload) {
    blob_store blobs{session};
    for (const auto& path : files) {
      std::ifstream in(path, std::ios::binary);
      std::ostringstream content;
      content << in.rdbuf();
      if (!in) return report({"cannot read " + path});
      auto id = blobs.put(fs::path(path).filename().string(), content.str());
      if (!id) return report({"upload of " + path + " failed: " + describe(id.error())});
      msg.blob_ids.push_back(*id);
    }
  } else {
    msg.files = files;
  }
  outgoing_message m;
  m.queue = "orchestrator";
  m.type = execute_workflow_type;
  m.execution_id = msg.execution_id;
  m.org = org;
  m.payload = to_json(msg);
  new_execution x{msg.execution_id, org, workflow, batch_size > 0 ? batch_size : 10,
                  static_cast<int32_t>(files.size())};
  if (auto err = submit_execution(session, x, m))
    return report({"submit failed: " + describe(err)});
  if (wait) {
    if (!inv.json) std::cerr << "submitted " << msg.execution_id << "\n";
    return wait_for(session, msg.execution_id, inv.json);
  }
  if (inv.json) {
    json::object o;
    o["execution_id"] = msg.execution_id;
    o["status"] = "QUEUED";
    std::cout << json::serialize(o) << "\n";
  } else {
    std::cout << msg.execution_id << "\n";
  }
  return 0;
}

int cmd_status(const invocation& inv) {
  if (inv.args.size() != 1) return report({"status needs exactly one EXECUTION_ID", 2});
  pg_session session{{inv.dsn, "postbox-cli"}};
  execution_store executions{session};
  auto e = executions.get(inv.args[0]);
  if (!e) {
    if (is(e.error(), errc::not_found)) return report({"no execution " + inv.args[0]});
    return report({"status failed: " + describe(e.error())});
  }
  file_results_store results{session};
  auto live = results.counts(e->id);
  return print_status(status_json(*e, live ? *live : file_counts{}), inv.json);
}

}  // namespace

int run(int argc, char** argv) {
  invocation inv;
  if (const char* env = std::getenv("POSTBOX_DSN")) inv.dsn = env;
  if (const char* env = std::getenv("POSTBOX_TOPOLOGY")) inv.topology_path = env;
  int i = 1;
  for (; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--help" || a == "-h") {
      std::cout << usage;
      return 0;
    } else if (a == "--json") {
      inv.json = true;
    } else if (a == "--dsn" || a == "--topology") {
      if (i + 1 >= argc) return report({a + " needs a value", 2});
      (a == "--dsn" ? inv.dsn : inv.topology_path) = argv[++i];
    } else if (!a.empty() && a[0] == '-') {
      return report({"unknown option " + a + " (see postbox --help)", 2});
    } else {
      break;
    }
  }
  if (i >= argc) return report({"no command given (see postbox --help)", 2});
  inv.command = argv[i++];
  for (; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--json")
      inv.json = true;
    else
      inv.args.push_back(a);
  }
  using handler = int (*)(const invocation&);
  const std::vector<std::pair<std::string, handler>> commands = {
      {"migrate", cmd_migrate}, {"submit", cmd_submit}, {"status", cmd_status}};
  auto cmd = std::find_if(commands.begin(), commands.end(),
                          [&](const auto& c) { return c.first == inv.command; });
  if (cmd == commands.end())
    return report({"unknown command '" + inv.command + "' (see postbox --help)", 2});
  if (inv.dsn.empty() && !inv.topology_path.empty()) {
    auto topo = load_topology_file(inv.topology_path);
    if (!topo) return report({describe(topo.error()), 2});
    inv.dsn = topo->database.dsn;
  }
  if (inv.dsn.empty())
    return report({"no database: pass --dsn, set POSTBOX_DSN, or give a --topology", 2});
  return cmd->second(inv);
}

}  // namespace postbox::cli

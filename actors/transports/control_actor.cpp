// The node's control actor (published through CAF's middleman). It is
// advisory: durable work never depends on it. Detached: status reads and
// connecting to peers block.
#include <unistd.h>

#include <boost/json.hpp>
#include <caf/all.hpp>
#include <set>

#include "actors/runtime/atoms.hpp"
#include "actors/runtime/log.hpp"
#include "actors/runtime/quiet_handlers.hpp"
#include "actors/transports/control.hpp"
#include "actors/transports/secrets.hpp"
#include "persistence/execution_json.hpp"
#include "persistence/execution_store.hpp"

namespace postbox {

namespace {

using namespace std::chrono_literals;

struct watcher {
  caf::actor who;
  std::string execution_id;
  std::string last;
};

struct control_state {
  static inline const char* name = "postbox.control";
  runtime_ptr rt;
  caf::actor supervisor;
  std::string token;
  std::unique_ptr<pg_session> db;
  std::vector<watcher> watchers;
  std::set<std::string> paused;
  bool ticking = false;
};

using control_actor = control_api::stateful_pointer<control_state>;

caf::error check(control_actor self, const std::string& token) {
  if (self->state.token.empty() || same_secret(token, self->state.token)) return {};
  return make_error(errc::unauthorized, "refused by node " + self->state.rt->node_name +
                                            ": missing or wrong control token");
}

void schedule_tick(control_actor self) {
  if (self->state.ticking || self->state.watchers.empty()) return;
  self->state.ticking = true;
  self->delayed_send(self, 250ms, tick_atom::value);
}

/// Tells the peers of this node (pause/resume); unreachable peers are logged.
template <class Atom>
int forward(control_actor self, Atom what, const std::string& token, const std::string& queue) {
  auto& st = self->state;
  int told = 0;
  for (const auto& [name, node] : st.rt->topo.nodes) {
    if (name == st.rt->node_name || node.control_port == 0) continue;
    auto peer = connect_control(self->system(), st.rt->topo.control, node.host, node.control_port);
    if (!peer) {
      log_line(st.rt->node_name,
               "control: peer " + name + " unreachable: " + self->system().render(peer.error()));
      continue;
    }
    caf::anon_send(*peer, what, token, queue, false);
    ++told;
  }
  return told;
}

std::string info_json(control_actor self) {
  auto& st = self->state;
  boost::json::array roles, paused;
  for (const auto& a : st.rt->node().actors) roles.emplace_back(a.role);
  for (const auto& q : st.paused) paused.emplace_back(q);
  return boost::json::serialize(boost::json::object{{"node", st.rt->node_name},
                                                    {"cluster", st.rt->topo.cluster},
                                                    {"pid", static_cast<int64_t>(::getpid())},
                                                    {"roles", roles},
                                                    {"paused", paused}});
}

control_api::behavior_type control(control_actor self, runtime_ptr rt, caf::actor supervisor,
                                   std::string token) {
  auto& st = self->state;
  st.rt = rt;
  st.supervisor = supervisor;
  st.token = std::move(token);
  st.db = std::make_unique<pg_session>(rt->session("postbox-control"));
  install_quiet_handlers(self, rt->node_name + "/control");
  self->set_down_handler([=](caf::down_msg& dm) {
    auto& w = self->state.watchers;
    w.erase(std::remove_if(w.begin(), w.end(),
                           [&](const watcher& x) { return x.who.address() == dm.source; }),
            w.end());
  });
  return {
      [=](info_atom, const std::string& tok) -> caf::result<std::string> {
        if (auto err = check(self, tok)) return err;
        return info_json(self);
      },
      [=](status_atom, const std::string& tok, const std::string& id) -> caf::result<std::string> {
        if (auto err = check(self, tok)) return err;
        auto e = execution_store{*self->state.db}.progress(id);
        if (!e) return e.error();
        return execution_to_json(*e);
      },
      [=](watch_atom, const std::string& tok, const std::string& id) -> caf::result<std::string> {
        if (auto err = check(self, tok)) return err;
        auto e = execution_store{*self->state.db}.progress(id);
        if (!e) return e.error();
        auto text = execution_to_json(*e);
        if (!is_terminal(e->status)) {
          auto who = caf::actor_cast<caf::actor>(self->current_sender());
          if (who) {
            self->monitor(who);
            self->state.watchers.push_back({who, id, text});
            schedule_tick(self);
          }
        }
        return text;
      },
      [=](tick_atom) {
        auto& s = self->state;
        s.ticking = false;
        for (auto it = s.watchers.begin(); it != s.watchers.end();) {
          auto e = execution_store{*s.db}.progress(it->execution_id);
          if (!e) {
            ++it;
            continue;
          }
          auto text = execution_to_json(*e);
          if (text != it->last) {
            caf::anon_send(it->who, progress_atom::value, text);
            it->last = text;
          }
          if (is_terminal(e->status))
            it = s.watchers.erase(it);
          else
            ++it;
        }
        schedule_tick(self);
      },
      [=](pause_atom, const std::string& tok, const std::string& queue,
          bool tell_peers) -> caf::result<std::string> {
        if (auto err = check(self, tok)) return err;
        self->state.paused.insert(queue);
        caf::anon_send(self->state.supervisor, pause_atom::value, queue);
        log_line(rt->node_name, "control: queue '" + queue + "' paused");
        int peers = tell_peers ? forward(self, pause_atom::value, tok, queue) : 0;
        return "paused '" + queue + "' on node " + rt->node_name + " and " + std::to_string(peers) +
               " peer(s)";
      },
      [=](resume_atom, const std::string& tok, const std::string& queue,
          bool tell_peers) -> caf::result<std::string> {
        if (auto err = check(self, tok)) return err;
        self->state.paused.erase(queue);
        caf::anon_send(self->state.supervisor, resume_atom::value, queue);
        log_line(rt->node_name, "control: queue '" + queue + "' resumed");
        int peers = tell_peers ? forward(self, resume_atom::value, tok, queue) : 0;
        return "resumed '" + queue + "' on node " + rt->node_name + " and " +
               std::to_string(peers) + " peer(s)";
      },
      [=](drain_atom, const std::string& tok) -> caf::result<std::string> {
        if (auto err = check(self, tok)) return err;
        caf::anon_send(self->state.supervisor, drain_atom::value);
        return "node " + rt->node_name + " is draining";
      },
  };
}

}  // namespace

control_api spawn_control(caf::actor_system& sys, runtime_ptr rt, caf::actor supervisor,
                          std::string token) {
  return sys.spawn<caf::detached>(control, std::move(rt), std::move(supervisor), std::move(token));
}

}  // namespace postbox

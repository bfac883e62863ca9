// postbox pause, resume, drain: through the control actor of the first node that answers.
#include <algorithm>
#include <iostream>

#include "apps/cli/commands.hpp"
#include "apps/cli/support.hpp"
#include "client/control_client.hpp"

namespace postbox::cli {

int control(const invocation& inv, control_verb verb, const std::string& target) {
  const std::string command = verb == control_verb::pause    ? "pause"
                              : verb == control_verb::resume ? "resume"
                                                             : "drain";
  client c{session_for(inv)};
  auto targets = control_targets(inv.topo ? &*inv.topo : nullptr, c.inspect());
  if (verb == control_verb::drain) {
    targets.erase(std::remove_if(targets.begin(), targets.end(),
                                 [&](const control_target& t) { return t.node != target; }),
                  targets.end());
    if (targets.empty())
      return fail("no node '" + target + "' with a control actor (see postbox nodes)");
  }
  control_client control{inv.topo ? inv.topo->control : control_config{},
                         client_control_token(inv.topo ? &*inv.topo : nullptr)};
  auto node = control.connect(targets);
  if (!node) return fail(node.error(), command + " failed");
  auto r = verb == control_verb::pause    ? control.pause(target)
           : verb == control_verb::resume ? control.resume(target)
                                          : control.drain();
  if (!r) return fail(r.error(), command + " failed");
  if (inv.json)
    std::cout << boost::json::serialize(boost::json::object{{"node", *node}, {"result", *r}})
              << "\n";
  else
    std::cout << *r << "\n";
  return 0;
}

}  // namespace postbox::cli

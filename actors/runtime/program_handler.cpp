#include "actors/runtime/program_handler.hpp"

#include <csignal>

#include "actors/runtime/child_process.hpp"
#include "actors/runtime/program_instance.hpp"
#include "actors/runtime/program_protocol.hpp"
#include "actors/runtime/typed_handler.hpp"
#include "messages/error.hpp"
#include "messages/storable_json.hpp"

namespace postbox {

namespace {

using std::chrono::milliseconds;

std::string duration_text(milliseconds d) {
  auto ms = d.count();
  if (ms % 3600000 == 0) return std::to_string(ms / 3600000) + "h";
  if (ms % 60000 == 0) return std::to_string(ms / 60000) + "m";
  if (ms % 1000 == 0) return std::to_string(ms / 1000) + "s";
  return std::to_string(ms) + "ms";
}

/// The worker's process of one program (made on first use, kept between messages).
struct program_slot {
  std::unique_ptr<program_instance> instance;
};

std::string slot_key(const program_config& cfg) {
  return "program:" + cfg.name;
}

outcome run_program(context& ctx, const delivery& d, const program_config& cfg) {
  auto& slot = ctx.local<program_slot>(slot_key(cfg));
  if (!slot.instance) slot.instance = std::make_unique<program_instance>(cfg, ctx.owner());
  program_request req;
  req.id = d.id;
  req.queue = d.queue;
  req.type = d.type;
  req.execution_id = d.execution_id;
  req.org = d.org;
  req.attempt = ctx.attempt();
  req.payload_json = d.payload;
  // Answer before the runtime's own max_handler_time check does: a little margin, so
  // the time-out is ours (the program killed, its worker kept).
  const milliseconds left = ctx.time_left();
  const milliseconds margin = std::min(left / 10, milliseconds(250));
  req.time_left = left - margin;
  const auto limit = ctx.topology().queue(d.queue).max_handler_time;
  auto line = slot.instance->exchange(encode_request(req), d.id,
                                      std::chrono::steady_clock::now() + req.time_left,
                                      "max_handler_time (" + duration_text(limit) + ")");
  if (!line) {
    if (is(line.error(), errc::transient)) return outcome::from(line.error());
    return outcome::fail(detail_of(line.error()));
  }
  auto answer = decode_answer(*line);
  if (!answer) {
    const std::string why = "program " + cfg.name + " wrote garbage: " + detail_of(answer.error());
    if (is(answer.error(), errc::decode_failed)) slot.instance->restart("wrote garbage");
    return outcome::fail(why);
  }
  slot.instance->answered();
  if (!answer->ok) {
    const std::string why = "program " + cfg.name + ": " + answer->error;
    return answer->retry ? outcome::fail(why) : outcome::reject(why);
  }
  for (auto& m : answer->sends) ctx.send(std::move(m));
  if (answer->has_reply) ctx.reply(json_text{answer->reply_json});
  return outcome::ok(json_text{answer->result_json});
}

}  // namespace

void tend_program(handler_context& worker, const program_config& program) {
  // The slot context::local<program_slot> finds under the same key.
  auto& any = worker.locals[slot_key(program)];
  if (!any) any = std::make_shared<program_slot>();
  auto& slot = *static_cast<program_slot*>(any.get());
  if (!slot.instance) slot.instance = std::make_unique<program_instance>(program, worker.owner);
  slot.instance->tend();
}

handler_fn program_handler(const program_config& program) {
  return [cfg = program](handler_context& hc, const delivery& d) -> handler_result {
    context ctx(hc, d);
    outcome o = run_guarded(run_program, ctx, d, cfg);
    return finish_handled(hc, d, ctx, o);
  };
}

caf::error register_programs(handler_registry& handlers, const topology& topo,
                             const std::string& node) {
  const node_config* n = topo.node(node);
  if (!n) return {};
  bool any = false;
  for (const auto& a : n->actors) {
    if (a.program.empty()) continue;
    const program_config* p = topo.program(a.program);
    if (!p) return make_error(errc::config_error, "no program named '" + a.program + "'");
    // Checked once here, so a typo in argv stops the node at start with its name
    // instead of failing every message.
    auto probe = find_executable(p->argv[0]);
    if (!probe)
      return make_error(errc::config_error, "program " + p->name + ": " + detail_of(probe.error()));
    for (const auto& type : p->types) handlers.add(p->queue, type, program_handler(*p));
    any = true;
  }
  // A program that exits while we write to it must fail a write, not kill the node.
  if (any) std::signal(SIGPIPE, SIG_IGN);
  return {};
}

}  // namespace postbox

// The handler context: identity, reads now, writes collected for the ack.
#include "actors/runtime/context.hpp"

#include <algorithm>
#include <boost/json.hpp>

#include "actors/runtime/continuations.hpp"
#include "actors/runtime/dispatch.hpp"
#include "config/topology.hpp"
#include "messages/json_codec.hpp"
#include "messages/storable_json.hpp"
#include "persistence/execution_store.hpp"
#include "persistence/sql_registry.hpp"

namespace postbox {

context::context(handler_context& hc, const delivery& d)
    : hc_(hc),
      d_(d),
      started_(std::chrono::steady_clock::now()),
      effects_(std::make_unique<context_effects>()) {
  if (auto h = decode_message_headers(d.headers.empty() ? "{}" : d.headers)) headers_ = *h;
  // The group is read on its own: bad continuations must not lose the arrival.
  headers_.group_id.clear();
  headers_.child_index = -1;
  if (auto g = group_of(d)) {
    headers_.group_id = g->group_id;
    headers_.child_index = g->index;
  }
}

context::~context() = default;

const std::string& context::problem() const {
  return problem_;
}

int64_t context::message_id() const {
  return d_.id;
}
const std::string& context::queue() const {
  return d_.queue;
}
const std::string& context::type() const {
  return d_.type;
}
const std::string& context::execution_id() const {
  return d_.execution_id;
}
const std::string& context::org() const {
  return d_.org;
}
const std::string& context::actor_type() const {
  return d_.actor_type;
}
const std::string& context::actor_key() const {
  return d_.actor_key;
}
void attach_turn(context& ctx, actor_turn& turn) {
  ctx.turn_ = &turn;
}
int32_t context::attempt() const {
  return d_.attempts + 1;
}
const std::string& context::owner() const {
  return hc_.owner;
}

int64_t context::fencing_token() const {
  return d_.receipt;
}
const postbox::topology& context::topology() const {
  return hc_.topo;
}
std::shared_ptr<void>& context::local_slot(const std::string& key) {
  return hc_.locals[key];
}

std::chrono::milliseconds context::time_left() const {
  auto limit = hc_.topo.queue(d_.queue).max_handler_time;
  auto spent = std::chrono::duration_cast<std::chrono::milliseconds>(
      std::chrono::steady_clock::now() - started_);
  return std::max(std::chrono::milliseconds(0), limit - spent);
}

bool context::cancelled() {
  if (d_.execution_id.empty()) return false;
  execution_store executions{hc_.session};
  auto e = executions.get(d_.execution_id);
  return e && e->status == execution_status::stopped;
}

caf::expected<std::vector<sql_row>> context::query(std::string sql, std::vector<sql_value> params) {
  return run_query(hc_.reads(), {std::move(sql), std::move(params)});
}

caf::expected<int64_t> context::write_now(std::string sql, std::vector<sql_value> params) {
  return run_write(hc_.session, {std::move(sql), std::move(params)}, d_.execution_id);
}

caf::expected<int64_t> context::checkpoint(std::string sql, std::vector<sql_value> params) {
  return run_checkpoint(hc_.session, sql_statement{std::move(sql), std::move(params)},
                        d_.execution_id);
}

caf::expected<int64_t> context::checkpoint(std::vector<sql_statement> statements) {
  return run_checkpoint(hc_.session, statements, d_.execution_id);
}

caf::expected<std::vector<group_result>> context::group_results(const std::string& group_id,
                                                                int32_t from_index, int32_t limit) {
  auto rows = run_query(
      hc_.reads(), {sql::query("barrier_results_page"),
                    {group_id, std::to_string(from_index), std::to_string(std::max(1, limit))}});
  if (!rows) return rows.error();
  if (rows->empty()) {
    // The end of the results, or no group at all (pruned, or never armed): say which.
    auto exists = run_query(hc_.reads(), {sql::query("barrier_exists"), {group_id}});
    if (!exists) return exists.error();
    if (exists->empty())
      return make_error(errc::not_found, "group " + group_id + " does not exist (pruned?)");
  }
  std::vector<group_result> out;
  out.reserve(rows->size());
  for (auto& row : *rows) {
    group_result r;
    r.index = static_cast<int32_t>(std::stol(row.at(0).value_or("0")));
    r.ok = row.at(1).value_or("") == "ok";
    if (row.at(2)) r.result_json = std::move(*row.at(2));
    r.error = row.at(3).value_or("");
    out.push_back(std::move(r));
  }
  return out;
}

const std::string& context::temp_dir() const {
  return hc_.temp_dir;
}

void context::execute(std::string sql, std::vector<sql_value> params) {
  if (auto err = check_params(params); err && problem_.empty()) problem_ = describe(err);
  statements_.push_back({std::move(sql), std::move(params)});
}

void context::in_ack(in_ack_fn step, execution_fence fence) {
  in_ack_.push_back(std::move(step));
  if (fence == execution_fence::exclusive) fence_ = fence;
}

outgoing_message context::outgoing(const message_out& m) {
  outgoing_message o;
  o.queue = m.queue;
  o.type = m.type;
  o.execution_id = m.execution_id.empty() ? d_.execution_id : m.execution_id;
  o.org = m.org.empty() ? d_.org : m.org;
  o.payload = storable_json(m.payload);
  o.headers = to_json(m.headers);
  o.delay = m.delay;
  o.actor_type = m.actor_type;
  o.actor_key = m.actor_key;
  o.dedup_key = m.dedup_key;
  o.dedup_mode = m.dedup_mode;
  o.dedup_ttl = m.dedup_ttl;
  if (problem_.empty()) {
    if (m.dedup_key.size() > max_dedup_key_bytes)
      problem_ = "a dedup key is 1 to 512 bytes";
    else if (is_tick_dedup_key(m.dedup_key))
      problem_ = tick_dedup_key_refusal(m.dedup_key);
    else if ((m.dedup_mode == dedup_mode::ttl) != (m.dedup_ttl.count() > 0) && !m.dedup_key.empty())
      problem_ = "dedup mode ttl goes with a dedup_ttl above zero (and only it)";
  }
  o.limit_key = m.limit_key;
  o.priority = m.priority;
  // What the receiver could not decode would cost it its continuations: refuse it
  // here, as this handler's failure, not the receiver's.
  if (auto back = decode_message_headers(o.headers); !back && problem_.empty())
    problem_ =
        "message to " + m.queue + " (" + m.type + ") has bad headers: " + describe(back.error());
  if (m.actor_type.empty() != m.actor_key.empty() && problem_.empty())
    problem_ = "a message to an actor needs its type and its key";
  if (!m.actor_key.empty() && problem_.empty()) {
    if (m.actor_key.size() > 256 || m.actor_type.size() > 256)
      problem_ = "an actor's type and key are 1 to 256 bytes";
    else if (m.delay.count() != 0)
      problem_ = "a message to an actor is not delayed (its turn comes in order)";
  }
  if (m.limit_key.size() > 256 && problem_.empty()) problem_ = "a limit key is 1 to 256 bytes";
  if ((o.queue.empty() && o.actor_key.empty()) || o.type.empty())
    problem_ = "a message needs a queue (or an actor) and a type";
  return o;
}

void context::send(message_out m) {
  effects_->sends.push_back(outgoing(m));
}

std::string context::fan_out(std::vector<message_out> children, message_out callback) {
  auto id = "m" + std::to_string(d_.id) + "." + std::to_string(fan_outs_++);
  return fan_out(std::move(children), std::move(callback), std::move(id));
}

std::string context::fan_out(std::vector<message_out> children, message_out callback,
                             std::string group_id) {
  if (children.size() > max_fan_out_children && problem_.empty())
    problem_ = "fan_out of " + std::to_string(children.size()) + " children: at most " +
               std::to_string(max_fan_out_children) + " per group (fan out in stages)";
  fan_out_group g;
  g.spec.group_id = std::move(group_id);
  g.spec.expected = static_cast<int32_t>(children.size());
  g.spec.parent_message_id = d_.id;
  // A child hands its place in its own group to the first group it fans out.
  if (!headers_.group_id.empty() && !membership_passed_) {
    callback.headers.group_id = headers_.group_id;
    callback.headers.child_index = headers_.child_index;
    membership_passed_ = true;
  }
  auto cb = outgoing(callback);
  // The group belongs to its callback's execution (this message's, unless the callback
  // names one): the stranded sweep, the lost-member sweep and retention see it there.
  g.spec.execution_id = cb.execution_id;
  boost::json::error_code ec;
  auto payload = boost::json::parse(cb.payload, ec);
  if (children.empty()) {
    // Nothing to wait for: the callback goes now, with no outcomes.
    boost::json::object p =
        !ec && payload.is_object() ? payload.as_object() : boost::json::object{};
    p["group"] = g.spec.group_id;
    p["results"] = boost::json::array{};
    cb.payload = boost::json::serialize(p);
    if (!callback.headers.group_id.empty() && callback.headers.group_id == headers_.group_id)
      hand_over_to_send_ = static_cast<int>(effects_->sends.size());
    effects_->sends.push_back(std::move(cb));
    return g.spec.group_id;
  }
  boost::json::object stored{{"queue", cb.queue},
                             {"type", cb.type},
                             {"execution_id", cb.execution_id},
                             {"org", cb.org},
                             {"payload", ec ? boost::json::value(boost::json::object{}) : payload},
                             {"headers", boost::json::parse(cb.headers)}};
  if (!cb.actor_key.empty())
    stored["actor"] = boost::json::object{{"type", cb.actor_type}, {"key", cb.actor_key}};
  g.spec.callback_json = boost::json::serialize(stored);
  int32_t index = 0;
  for (auto& child : children) {
    child.headers.group_id = g.spec.group_id;
    child.headers.child_index = index++;
    g.children.push_back(outgoing(child));
  }
  effects_->groups.push_back(std::move(g));
  return effects_->groups.back().spec.group_id;
}

message_headers context::take_continuations() {
  message_headers out;
  out.has_on_success = headers_.has_on_success;
  out.on_success = headers_.on_success;
  out.has_on_error = headers_.has_on_error;
  out.on_error = headers_.on_error;
  continuations_taken_ = true;
  return out;
}

bool context::in_turn(const std::string& what) {
  if (turn_) return true;
  if (problem_.empty())
    problem_ = what +
               " outside an actor's turn: reminders and timers belong to a keyed actor "
               "(registry.actor<S>(type, queue)); this is a " +
               d_.type + " on queue " + d_.queue;
  return false;
}

void context::set_reminder(std::string name, bool absolute, int64_t due_ms,
                           std::chrono::milliseconds period, missed_ticks missed) {
  const auto what = "ctx.remind(\"" + name + "\")";
  if (!in_turn(what)) return;
  std::string bad;
  if (name.empty() || name.size() > 256)
    bad = what + ": a reminder's name is 1 to 256 bytes";
  else if (period.count() != 0 && period < std::chrono::seconds(1))
    bad = what + ": a period is 0 (once) or at least 1s, got " + std::to_string(period.count()) +
          "ms";
  else if (!hc_.handlers.find(d_.queue, reminder_message_type(d_.actor_type)))
    bad = what + ": actor type '" + d_.actor_type +
          "' has no reminder handler on this node (registry.actor<S>(...).on_reminder(fn))";
  if (!bad.empty()) {
    if (problem_.empty()) problem_ = bad;
    return;
  }
  reminder_write w;
  w.actor_type = d_.actor_type;
  w.actor_key = d_.actor_key;
  w.name = std::move(name);
  w.queue = d_.queue;
  w.absolute = absolute;
  w.due_ms = due_ms;
  w.period_ms = period.count();
  w.on_missed = missed == missed_ticks::all ? "all" : "once";
  effects_->reminders.reminders.push_back(std::move(w));
}

void context::remind(std::string name, std::chrono::milliseconds due_in,
                     std::chrono::milliseconds period, missed_ticks missed) {
  set_reminder(std::move(name), false, std::max<int64_t>(0, due_in.count()), period, missed);
}

void context::remind(std::string name, std::chrono::system_clock::time_point due,
                     std::chrono::milliseconds period, missed_ticks missed) {
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(due.time_since_epoch()).count();
  set_reminder(std::move(name), true, ms, period, missed);
}

void context::cancel_reminder(std::string name) {
  if (!in_turn("ctx.cancel_reminder(\"" + name + "\")")) return;
  reminder_write w;
  w.set = false;
  w.actor_type = d_.actor_type;
  w.actor_key = d_.actor_key;
  w.name = std::move(name);
  effects_->reminders.reminders.push_back(std::move(w));
}

void context::send_after(std::chrono::milliseconds delay, message_out m) {
  const auto what = "ctx.send_after(" + m.type + ")";
  if (!in_turn(what)) return;
  if ((delay.count() < 0 || m.delay.count() != 0) && problem_.empty()) {
    problem_ = what +
               ": the delay is send_after's first argument, zero or more (the message's "
               "own delay must stay 0)";
    return;
  }
  // A timer row keeps no dedup key (migration 020 predates them): refused, never dropped.
  if (!m.dedup_key.empty() && problem_.empty()) {
    problem_ = what + ": a timer carries no dedup key (use ctx.send with a delay instead)";
    return;
  }
  timer_write t;
  t.fire_queue = d_.queue;
  t.delay_ms = delay.count();
  t.message = outgoing(m);
  t.set_by_type = d_.actor_type;
  t.set_by_key = d_.actor_key;
  effects_->reminders.timers.push_back(std::move(t));
}

void context::reply(json_text body) {
  reply_ = storable_json(body.text);
  if (headers_.has_reply_to && problem_.empty()) {
    boost::json::error_code ec;
    auto v = boost::json::parse(*reply_, ec);
    if (ec || !v.is_object())
      problem_ = "the reply to an ask of actor " + headers_.reply_to.actor_type + "/" +
                 headers_.reply_to.actor_key + " goes to it as a " + headers_.reply_to.type +
                 " message, so it must be a JSON object";
  }
}

caf::error context::ask(message_out m, std::string reply_type) {
  if (d_.actor_key.empty())
    return make_error(errc::invalid_argument,
                      "ask from a handler that is no actor's turn: the answer needs an actor to "
                      "come back to (use client::ask, or an on_success continuation)");
  if (m.actor_key.empty() || m.actor_type.empty())
    return make_error(errc::invalid_argument, "ask names the actor it asks (message_out::to)");
  if (reply_type.empty())
    return make_error(errc::invalid_argument, "ask names the type its answer comes back as");
  if (m.actor_type == d_.actor_type && m.actor_key == d_.actor_key)
    return make_error(errc::invalid_argument,
                      "actor " + d_.actor_type + "/" + d_.actor_key +
                          " asks itself: refused (its turns never interleave, so the answer "
                          "could only come after this turn; do the work in this turn, or send "
                          "itself a message)");
  m.headers.has_reply_to = true;
  m.headers.reply_to = continuation::to(actor(d_.actor_type, d_.actor_key), std::move(reply_type));
  m.headers.reply_to.queue = d_.queue;
  send(std::move(m));
  return {};
}

bool state_changed(const actor_turn& turn) {
  if (turn.state == turn.loaded_state) return false;
  // The loaded text is jsonb's (keys reordered, spaced); the handler's is its encoder's.
  // Compared as values (object keys in any order), so an unchanged state writes nothing.
  boost::json::error_code a, b;
  auto before = boost::json::parse(turn.loaded_state, a);
  auto after = boost::json::parse(turn.state, b);
  return a || b || before != after;
}

success_commit commit_of(const context& ctx, const std::string& result_json) {
  success_commit c;
  c.delivery = ctx.d_.to_lease();
  c.execution_id = ctx.d_.execution_id;
  c.in_ack = ctx.in_ack_;
  c.fence = ctx.fence_;
  c.statements = ctx.statements_;
  c.sends = ctx.effects_->sends;
  c.groups = ctx.effects_->groups;
  c.result_json = storable_json(result_json);
  if (!ctx.continuations_taken_) c.on_success = on_success_message(ctx.d_, c.result_json);
  if (!ctx.headers_.group_id.empty()) {
    group_member place{ctx.headers_.group_id, ctx.headers_.child_index};
    if (!ctx.membership_passed_)
      c.arrive = place;
    else
      c.arrive_place = place;
  }
  c.hand_over_to_send = ctx.hand_over_to_send_;
  if (ctx.turn_ && state_changed(*ctx.turn_))
    c.actor_state = actor_state_write{ctx.turn_->type, ctx.turn_->key, ctx.turn_->loaded_version,
                                      storable_json(ctx.turn_->state)};
  c.reminders = ctx.effects_->reminders;
  if (ctx.turn_) c.reminders.one_shot_done = ctx.turn_->one_shot_done;
  if (ctx.reply_ && ctx.headers_.has_reply_to) {
    // An actor asked: the answer is a message of its own, in its turn (context::ask).
    const auto& to = ctx.headers_.reply_to;
    outgoing_message answer;
    answer.queue = to.queue;
    answer.type = to.type;
    answer.execution_id = ctx.d_.execution_id;
    answer.org = ctx.d_.org;
    answer.payload = *ctx.reply_;
    answer.actor_type = to.actor_type;
    answer.actor_key = to.actor_key;
    c.sends.push_back(std::move(answer));
  }
  if (ctx.reply_ && !ctx.headers_.reply_key.empty()) {
    c.reply_key = ctx.headers_.reply_key;
    c.reply_json = *ctx.reply_;
  }
  auto to_actor = [](const outgoing_message& m) { return !m.actor_key.empty(); };
  c.alone = ctx.turn_ || !ctx.d_.actor_key.empty() || !c.reminders.empty() ||
            std::any_of(c.sends.begin(), c.sends.end(), to_actor) ||
            std::any_of(c.groups.begin(), c.groups.end(),
                        [&](const fan_out_group& g) {
                          return std::any_of(g.children.begin(), g.children.end(), to_actor);
                        }) ||
            (c.on_success && to_actor(*c.on_success));
  return c;
}

}  // namespace postbox

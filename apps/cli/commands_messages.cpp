// postbox send, ask, reply: a message onto a queue, a request and its reply.
#include <algorithm>
#include <iostream>
#include <optional>
#include <tuple>

#include "apps/cli/commands.hpp"
#include "apps/cli/support.hpp"
#include "messages/json_codec.hpp"
#include "persistence/actor_store.hpp"

namespace postbox::cli {

namespace {

namespace json = boost::json;

/// Exit code of `ask` / `reply` when no reply came in time (the request may still answer).
constexpr int exit_no_reply = 3;

std::string one_line(std::string text) {
  std::replace(text.begin(), text.end(), '\n', ' ');
  std::replace(text.begin(), text.end(), '\r', ' ');
  return text;
}

/// Prints a reply: its body on stdout (with --json: the request, message and
/// status around it); a dead letter or a missed deadline as one line on stderr.
int print_reply(const invocation& inv, const ask_reply& r, const std::string& waited) {
  if (inv.json) {
    json::object o{{"request_id", r.request_id}, {"message_id", r.message_id}};
    json::error_code ec;
    switch (r.status) {
      case reply_status::ok: {
        auto body = json::parse(r.body, ec);
        o["status"] = "ok";
        o["reply"] = ec ? json::value(r.body) : body;
        break;
      }
      case reply_status::error:
        o["status"] = "error";
        o["error"] = r.error;
        break;
      case reply_status::pending:
        o["status"] = "pending";
        break;
    }
    std::cout << json::serialize(o) << "\n";
  }
  auto request = "request " + r.request_id + " (message " + std::to_string(r.message_id) + ")";
  switch (r.status) {
    case reply_status::ok:
      if (!inv.json) std::cout << r.body << "\n";
      return 0;
    case reply_status::error:
      return fail(request + " was dead-lettered: " + one_line(r.error));
    case reply_status::pending:
      break;
  }
  return fail("no reply to " + request + (waited.empty() ? " yet" : " within " + waited) +
                  "; fetch it later with: postbox reply " + r.request_id,
              exit_no_reply);
}

/// Waiting for replies: LISTEN unless behind a transaction-mode pooler (then polling).
reply_wait reply_wait_for(const invocation& inv, std::chrono::milliseconds timeout) {
  reply_wait w;
  w.timeout = timeout;
  w.listen = !(inv.topo && inv.topo->database.pooler == "transaction");
  return w;
}

}  // namespace

namespace {

caf::expected<dedup_options> dedup_of(const send_args& args) {
  dedup_options d;
  d.key = args.dedup_key;
  if (!args.dedup_mode.empty()) d.mode = parse_dedup_mode(args.dedup_mode).value_or(d.mode);
  if (args.dedup_ttl) {
    auto ttl = parse_duration(*args.dedup_ttl);
    if (!ttl) return ttl.error();
    d.ttl = *ttl;
  }
  if (d.key.empty() && (!args.dedup_mode.empty() || args.dedup_ttl))
    return make_error(errc::invalid_argument, "--dedup and --dedup-ttl go with --dedup-key");
  if ((d.mode == dedup_mode::ttl) != (d.ttl.count() > 0))
    return make_error(errc::invalid_argument,
                      "--dedup ttl goes with --dedup-ttl above zero (and only it)");
  return d;
}

}  // namespace

int send(const invocation& inv, const send_args& args) {
  // --on-success / --on-error '{"queue": Q, "type": T, "payload": {...}}' (seed 003's
  // continuations) go into the headers beside whatever --headers gives.
  auto headers = decode_message_headers(args.headers);
  if (!headers) return fail("send: --headers: " + describe(headers.error()), 2);
  for (auto [flag, text, has, slot] :
       {std::make_tuple("--on-success", &args.on_success, &headers->has_on_success,
                        &headers->on_success),
        std::make_tuple("--on-error", &args.on_error, &headers->has_on_error,
                        &headers->on_error)}) {
    if (!*text) continue;
    auto c = decode_continuation(**text);
    if (!c) return fail(std::string("send: ") + flag + ": " + describe(c.error()), 2);
    *has = true;
    *slot = std::move(*c);
  }
  auto dedup = dedup_of(args);
  if (!dedup) return fail("send: " + describe(dedup.error()), 2);
  client c{session_for(inv)};
  std::optional<actor_ref> to;
  std::string queue = args.queue;
  if (!args.actor.empty()) {
    // TYPE/KEY: the type up to the first '/', the key after it (it may hold '/').
    const auto slash = args.actor.find('/');
    to = actor(args.actor.substr(0, slash), args.actor.substr(slash + 1));
    if (queue.empty()) {
      actor_store actors{c.session()};
      auto q = actors.queue_of(to->type);
      if (!q) return fail(q.error(), "send failed");
      if (!*q)
        return fail("send refused: actor type '" + to->type +
                        "' is not served by any node yet (no node registered it): start one "
                        "whose registry has it, or name the queue with --queue",
                    2);
      queue = **q;
    }
  } else if (queue.empty()) {
    return fail("send: --queue is required (or --actor TYPE/KEY: its type's queue)", 2);
  }
  // A type no node handles on that queue would be dead-lettered by the consumers'
  // sweep within seconds (at an actor's head: it would block the key): refuse it now,
  // naming what is handled there.
  if (!args.force) {
    std::vector<std::string> among;
    if (inv.topo)
      for (const auto& [name, _] : inv.topo->nodes) among.push_back(name);
    if (auto err = c.check_handled(queue, args.type, among)) return fail(err, "send refused");
  }
  send_options opts;
  if (!args.priority.empty()) opts.tier = priority_from_string(args.priority);  // checked by parse
  opts.limit_key = args.limit_key;
  opts.dedup = *dedup;
  auto id = to ? c.send_unique(*to, args.type, args.json_payload, opts, to_json(*headers), queue)
               : c.send_unique(queue, args.type, args.json_payload, opts, to_json(*headers));
  if (!id) return fail(id.error(), "send refused");
  if (inv.json) {
    json::object o{{"message_id", id->id}, {"queue", queue}};
    if (to) o["actor"] = to->type + "/" + to->key;
    if (!args.dedup_key.empty()) o["duplicate"] = id->duplicate;
    std::cout << json::serialize(o) << "\n";
  } else if (id->duplicate) {
    std::cout << "message " << id->id << " holds dedup key '" << args.dedup_key << "' on " << queue
              << (dedup->mode == dedup_mode::replace ? " (payload replaced unless it is running)"
                                                     : ": nothing sent")
              << "\nduplicate: true\n";
  } else {
    std::cout << "message " << id->id << " sent to " << (to ? "actor " + args.actor + " on " : "")
              << queue << "\n";
  }
  return 0;
}

int ask(const invocation& inv, const ask_args& args) {
  auto timeout = parse_duration(args.timeout);  // validated by the command line
  if (!timeout) return fail("ask: --timeout: " + describe(timeout.error()), 2);
  ask_options options;
  options.headers = args.headers;
  options.request_id = args.request_id;
  options.wait = reply_wait_for(inv, *timeout);
  client c{session_for(inv)};
  auto r = c.ask(args.queue, args.type, args.json_payload, options);
  if (!r) return fail(r.error(), "ask failed");
  return print_reply(inv, *r, args.timeout);
}

int reply(const invocation& inv, const reply_args& args) {
  std::chrono::milliseconds wait{0};
  if (!args.wait.empty()) {
    auto d = parse_duration(args.wait);  // validated by the command line
    if (!d) return fail("reply: --wait: " + describe(d.error()), 2);
    wait = *d;
  }
  client c{session_for(inv)};
  auto r = c.fetch_reply(args.request_id, reply_wait_for(inv, wait));
  if (!r) return fail(r.error(), "reply failed");
  return print_reply(inv, *r, args.wait);
}

}  // namespace postbox::cli

// The SQL calls of schedules; each statement is one file in persistence/sql/.
#include "persistence/schedule_store.hpp"

#include "config/schedule_plan.hpp"
#include "persistence/detail/tx_context.hpp"
#include "postbox/error.hpp"

namespace postbox {

namespace {

std::optional<int64_t> opt_ms(const pqxx::field& f) {
  if (f.is_null()) return std::nullopt;
  return f.as<int64_t>();
}

}  // namespace

caf::error schedule_store::declare(const std::vector<schedule_definition>& defs) {
  if (defs.empty()) return {};
  return session_.transact(retry_policy::once, [&](tx_context& tx) -> caf::error {
    for (const auto& d : defs)
      tx.exec("schedule_declare", d.name, d.cron, d.timezone, d.target, d.on_missed, d.overlap,
              d.catch_up_window_ms);
    return {};
  });
}

caf::error schedule_store::mark_seen(const std::vector<std::string>& names) {
  if (names.empty()) return {};
  std::vector<std::optional<std::string>> v(names.begin(), names.end());
  auto arr = detail::pg_text_array(v);
  return session_.transact(retry_policy::once, [&](tx_context& tx) -> caf::error {
    tx.exec("schedules_seen", arr);
    return {};
  });
}

caf::expected<schedule_firing> schedule_store::fire_one(int64_t stale_ms) {
  std::string name;  // known once the row is locked: a failure is charged to it
  caf::error refused;
  auto fired = session_.transact_value<schedule_firing>(
      retry_policy::once, [&](tx_context& tx) -> caf::expected<schedule_firing> {
        schedule_firing out;
        auto rows = tx.exec("schedules_due", stale_ms);
        if (rows.empty()) {
          auto next = tx.exec("schedules_next_due", stale_ms);
          if (!next.empty() && !next[0][0].is_null()) out.next_due_ms = next[0][0].as<int64_t>();
          return out;
        }
        const auto& r = rows[0];
        schedule_due due;
        due.name = name = r[0].c_str();
        due.cron = r[1].c_str();
        due.timezone = r[2].c_str();
        due.next_tick = opt_ms(r[3]);
        due.on_missed = r[4].c_str();
        due.overlap = r[5].c_str();
        due.catch_up_window = r[6].as<int64_t>();
        due.previous_live = r[7].as<bool>();
        due.now = r[8].as<int64_t>();
        out.found = true;
        out.name = due.name;
        auto plan = plan_schedule(due);
        if (!plan.error.empty()) {
          tx.exec("schedule_set_error", due.name, plan.error);
          return out;
        }
        std::optional<int64_t> last_id;
        for (const auto& t : plan.ticks) {
          if (t.outcome == "sent") {
            auto id =
                tx.exec("schedule_fire_tick", due.name, t.tick, t.missed, t.backfilled, t.outcome);
            last_id = id[0][0].as<int64_t>();
          } else {
            tx.exec("schedule_record_tick", due.name, t.tick, t.outcome, t.missed);
          }
        }
        auto moved = tx.exec("schedule_advance", due.name, due.next_tick, plan.next_tick,
                             plan.last_tick, last_id, plan.sent, plan.skipped, plan.missed);
        if (moved.affected_rows() != 1)
          return make_error(errc::lease_lost, "schedule " + due.name + " moved under its lock");
        out.sent = plan.sent;
        out.skipped = plan.skipped;
        return out;
      });
  if (fired || name.empty()) return fired;
  // Its target was refused (e.g. an actor type no node serves): recorded, so the
  // other schedules go on; a connection problem is only retried later.
  if (is(fired.error(), errc::logic_error)) {
    auto why = describe(fired.error());
    auto err = session_.transact(retry_policy::once, [&](tx_context& tx) -> caf::error {
      tx.exec("schedule_set_error", name, why);
      return {};
    });
    if (err) return err;
  }
  return fired;
}

caf::expected<std::vector<schedule_row>> schedule_store::list(int64_t stale_ms) {
  return session_.transact_value<std::vector<schedule_row>>(
      retry_policy::once,
      [&](tx_context& tx) -> caf::expected<std::vector<schedule_row>> {
        std::vector<schedule_row> out;
        for (const auto& r : tx.exec("schedules_list", stale_ms)) {
          schedule_row s;
          s.name = r[0].c_str();
          s.cron = r[1].c_str();
          s.timezone = r[2].c_str();
          s.target = r[3].c_str();
          s.next_tick = opt_ms(r[4]);
          s.last_tick = opt_ms(r[5]);
          s.paused = r[6].as<bool>();
          s.on_missed = r[7].c_str();
          s.overlap = r[8].c_str();
          s.defined_by = r[9].c_str();
          s.stale = r[10].as<bool>();
          s.error = r[11].c_str();
          s.sent = r[12].as<int64_t>();
          s.skipped = r[13].as<int64_t>();
          s.missed = r[14].as<int64_t>();
          out.push_back(std::move(s));
        }
        return out;
      },
      tx_kind::read_only);
}

caf::error schedule_store::set_paused(const std::string& name, bool paused) {
  return session_.transact(retry_policy::once, [&](tx_context& tx) -> caf::error {
    if (tx.exec("schedule_pause", name, paused).affected_rows() == 0)
      return make_error(errc::not_found, "no schedule named '" + name + "'");
    return {};
  });
}

caf::expected<int64_t> schedule_store::trigger(const std::string& name) {
  return session_.transact_value<int64_t>(
      retry_policy::never, [&](tx_context& tx) -> caf::expected<int64_t> {
        auto r = tx.exec("schedule_trigger", name);
        if (r.empty()) return make_error(errc::not_found, "no schedule named '" + name + "'");
        return r[0][0].as<int64_t>();
      });
}

caf::expected<int64_t> schedule_store::prune_ticks(int64_t age_ms, int64_t max) {
  return session_.transact_value<int64_t>(retry_policy::once,
                                          [&](tx_context& tx) -> caf::expected<int64_t> {
                                            auto r = tx.exec("schedule_ticks_prune", age_ms, max);
                                            return static_cast<int64_t>(r.affected_rows());
                                          });
}

}  // namespace postbox

// The SQL calls of reminders and timers; each statement is one file in persistence/sql/.
#include "persistence/reminder_store.hpp"

#include "persistence/detail/tx_context.hpp"

namespace postbox {

caf::error reminder_store::apply(tx_context& tx, const reminder_effects& e) {
  if (e.one_shot_done) {
    const auto& t = *e.one_shot_done;
    tx.exec("reminder_finish_one_shot", t.actor_type, t.actor_key, t.name, t.generation);
  }
  for (const auto& r : e.reminders) {
    if (r.set)
      tx.exec("reminder_set", r.actor_type, r.actor_key, r.name, r.queue, r.due_ms, r.absolute,
              r.period_ms, r.on_missed);
    else
      tx.exec("reminder_cancel", r.actor_type, r.actor_key, r.name);
  }
  for (const auto& t : e.timers) {
    const auto& m = t.message;
    tx.exec("timer_add", t.fire_queue, t.delay_ms, m.queue, m.type, m.payload, m.headers,
            detail::null_if_empty(m.execution_id), detail::null_if_empty(m.org),
            detail::null_if_empty(m.actor_type), detail::null_if_empty(m.actor_key),
            detail::null_if_empty(t.set_by_type), detail::null_if_empty(t.set_by_key));
  }
  return {};
}

caf::expected<int32_t> reminder_store::fire_due(const std::string& queue, int32_t max) {
  return session_.transact_value<int32_t>(retry_policy::once,
                                          [&](tx_context& tx) -> caf::expected<int32_t> {
                                            auto r = tx.exec("reminders_fire", queue, max);
                                            return r[0][0].as<int32_t>();
                                          });
}

caf::expected<std::optional<int64_t>> reminder_store::generation(const std::string& actor_type,
                                                                 const std::string& actor_key,
                                                                 const std::string& name) {
  return session_.transact_value<std::optional<int64_t>>(
      retry_policy::once, [&](tx_context& tx) -> caf::expected<std::optional<int64_t>> {
        auto r = tx.exec("reminder_generation", actor_type, actor_key, name);
        if (r.empty()) return std::optional<int64_t>();
        return std::optional<int64_t>(r[0][0].as<int64_t>());
      });
}

}  // namespace postbox

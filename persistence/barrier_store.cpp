// SQL calls of barriers and barrier_arrivals.
#include "persistence/barrier_store.hpp"

#include "persistence/detail/tx_context.hpp"

namespace postbox {

caf::error barrier_store::arm(tx_context& tx, const std::string& execution_id, int32_t expected) {
  if (expected <= 0)
    return make_error(errc::invalid_argument, "a barrier expects at least 1 batch");
  tx.exec("barrier_arm", execution_id, expected);
  auto r = tx.exec("barrier_get", execution_id);
  if (r.empty()) return make_error(errc::not_found, "barrier of " + execution_id);
  if (r[0][0].as<int32_t>() != expected)
    return make_error(errc::invalid_argument, "barrier of " + execution_id + " is armed with " +
                                                  r[0][0].c_str() + " batches, not " +
                                                  std::to_string(expected));
  return {};
}

caf::expected<arrival> barrier_store::arrive(tx_context& tx, const std::string& execution_id,
                                             int32_t batch_index) {
  auto r = tx.exec("barrier_arrive", execution_id, batch_index);
  if (r.empty() || r[0][0].is_null())
    return make_error(errc::not_found, "no barrier armed for " + execution_id);
  auto expected = r[0][0].as<int32_t>();
  if (batch_index < 0 || batch_index >= expected)
    return make_error(
        errc::invalid_argument,
        "batch " + std::to_string(batch_index) + " outside barrier of " + std::to_string(expected));
  arrival a;
  a.counted = r[0][1].as<bool>();
  a.remaining = r[0][2].as<int32_t>();
  a.fired = a.counted && a.remaining == 0;
  return a;
}

caf::expected<barrier_state> barrier_store::lock(tx_context& tx, const std::string& execution_id) {
  auto r = tx.exec("barrier_lock", execution_id);
  if (r.empty()) return make_error(errc::not_found, "no barrier armed for " + execution_id);
  return barrier_state{r[0][0].as<int32_t>(), r[0][1].as<int32_t>(), r[0][2].as<bool>()};
}

caf::error barrier_store::arm(const std::string& execution_id, int32_t expected) {
  return session_.transact(retry_policy::once,
                           [&](tx_context& tx) { return arm(tx, execution_id, expected); });
}

caf::expected<arrival> barrier_store::arrive(const std::string& execution_id, int32_t batch_index) {
  // Idempotent by the arrival row, so the retry cannot count twice.
  return session_.transact_value<arrival>(
      retry_policy::once, [&](tx_context& tx) { return arrive(tx, execution_id, batch_index); });
}

caf::expected<barrier_state> barrier_store::get(const std::string& execution_id) {
  return session_.transact_value<barrier_state>(
      retry_policy::once, [&](tx_context& tx) -> caf::expected<barrier_state> {
        auto r = tx.exec("barrier_get", execution_id);
        if (r.empty()) return make_error(errc::not_found, "no barrier for " + execution_id);
        return barrier_state{r[0][0].as<int32_t>(), r[0][1].as<int32_t>(), r[0][2].as<bool>()};
      });
}

}  // namespace postbox

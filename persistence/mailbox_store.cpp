// The mailbox's SQL calls; each statement is one file in persistence/sql/.
#include "persistence/mailbox_store.hpp"

#include <algorithm>

#include "persistence/detail/delivery_rows.hpp"
#include "persistence/detail/tx_context.hpp"

namespace postbox {

namespace {

caf::error lease_lost(const char* what, const lease& l) {
  return make_error(errc::lease_lost, std::string(what) + " of message " +
                                          std::to_string(l.message_id) + " with stale receipt " +
                                          std::to_string(l.receipt));
}

}  // namespace

caf::expected<int64_t> mailbox_store::send(tx_context& tx, const outgoing_message& m) {
  if (!m.dedup_key.empty()) {
    auto sent = send_unique(tx, m);
    if (!sent) return sent.error();
    return sent->id;
  }
  auto r = tx.exec("mailbox_send", m.queue, m.type, detail::null_if_empty(m.execution_id),
                   detail::null_if_empty(m.org), m.payload, m.headers,
                   static_cast<int64_t>(m.delay.count()), detail::null_if_empty(m.actor_type),
                   detail::null_if_empty(m.actor_key), detail::null_if_empty(m.limit_key),
                   m.priority ? std::optional<int>(static_cast<int>(*m.priority)) : std::nullopt);
  return r[0][0].as<int64_t>();
}

caf::expected<std::vector<int64_t>> mailbox_store::send_batch(
    tx_context& tx, const std::vector<outgoing_message>& msgs) {
  // In statements of at most send_batch_chunk messages: a fan_out of a million children
  // is a few hundred INSERTs in its transaction, never one statement whose seven arrays
  // (and their text) are held whole beside the messages.
  if (std::any_of(msgs.begin(), msgs.end(),
                  [](const outgoing_message& m) { return !m.dedup_key.empty(); })) {
    auto sent = send_batch_unique(tx, msgs);
    if (!sent) return sent.error();
    std::vector<int64_t> ids;
    ids.reserve(sent->size());
    for (const auto& x : *sent) ids.push_back(x.id);
    return ids;
  }
  std::vector<int64_t> ids;
  ids.reserve(msgs.size());
  for (size_t first = 0; first < msgs.size(); first += send_batch_chunk) {
    const size_t last = std::min(msgs.size(), first + send_batch_chunk);
    std::vector<std::optional<std::string>> q, t, e, o, p, h, at, ak, lk;
    std::vector<int64_t> d;
    std::vector<std::optional<std::string>> pr;
    for (size_t i = first; i < last; ++i) {
      const auto& m = msgs[i];
      q.emplace_back(m.queue);
      t.emplace_back(m.type);
      e.emplace_back(m.execution_id.empty() ? std::nullopt
                                            : std::optional<std::string>(m.execution_id));
      o.emplace_back(m.org.empty() ? std::nullopt : std::optional<std::string>(m.org));
      p.emplace_back(m.payload);
      h.emplace_back(m.headers);
      d.push_back(m.delay.count());
      at.emplace_back(m.actor_type.empty() ? std::nullopt
                                           : std::optional<std::string>(m.actor_type));
      ak.emplace_back(m.actor_key.empty() ? std::nullopt : std::optional<std::string>(m.actor_key));
      lk.emplace_back(m.limit_key.empty() ? std::nullopt : std::optional<std::string>(m.limit_key));
      pr.emplace_back(
          m.priority ? std::optional<std::string>(std::to_string(static_cast<int>(*m.priority)))
                     : std::nullopt);
    }
    using detail::pg_text_array;
    auto r = tx.exec("mailbox_send_batch", pg_text_array(q), pg_text_array(t), pg_text_array(e),
                     pg_text_array(o), pg_text_array(p), pg_text_array(h), detail::pg_int_array(d),
                     pg_text_array(at), pg_text_array(ak), pg_text_array(lk), pg_text_array(pr));
    // One sequence: every id of a later statement is greater than this one's.
    const auto from = ids.size();
    for (const auto& row : r) ids.push_back(row[0].as<int64_t>());
    std::sort(ids.begin() + static_cast<std::ptrdiff_t>(from), ids.end());
  }
  return ids;
}

namespace {

std::optional<std::string> opt(const std::string& s) {
  return s.empty() ? std::nullopt : std::optional<std::string>(s);
}

}  // namespace

caf::expected<send_result> mailbox_store::send_unique(tx_context& tx, const outgoing_message& m) {
  if (m.dedup_key.empty()) {
    auto id = send(tx, m);
    if (!id) return id.error();
    return send_result{*id, false};
  }
  using detail::null_if_empty;
  auto r = tx.exec("mailbox_send_dedup", m.queue, m.type, null_if_empty(m.execution_id),
                   null_if_empty(m.org), m.payload, m.headers,
                   static_cast<int64_t>(m.delay.count()), null_if_empty(m.actor_type),
                   null_if_empty(m.actor_key), m.dedup_key, std::string(to_string(m.dedup_mode)),
                   static_cast<int64_t>(m.dedup_ttl.count()), null_if_empty(m.limit_key),
                   m.priority ? std::optional<int>(static_cast<int>(*m.priority)) : std::nullopt);
  return send_result{r[0][0].as<int64_t>(), r[0][1].as<bool>()};
}

caf::expected<std::vector<send_result>> mailbox_store::send_batch_unique(
    tx_context& tx, const std::vector<outgoing_message>& msgs) {
  std::vector<send_result> out;
  out.reserve(msgs.size());
  if (std::none_of(msgs.begin(), msgs.end(),
                   [](const outgoing_message& m) { return !m.dedup_key.empty(); })) {
    auto ids = send_batch(tx, msgs);
    if (!ids) return ids.error();
    for (auto id : *ids) out.push_back({id, false});
    return out;
  }
  // Keys: one statement per chunk, one insert per element in order (ids ascend).
  for (size_t first = 0; first < msgs.size(); first += send_batch_chunk) {
    const size_t last = std::min(msgs.size(), first + send_batch_chunk);
    std::vector<std::optional<std::string>> q, t, e, o, p, h, at, ak, k, md, lk, pr;
    std::vector<int64_t> d, ttl;
    for (size_t i = first; i < last; ++i) {
      const auto& m = msgs[i];
      q.emplace_back(m.queue);
      t.emplace_back(m.type);
      e.emplace_back(opt(m.execution_id));
      o.emplace_back(opt(m.org));
      p.emplace_back(m.payload);
      h.emplace_back(m.headers);
      d.push_back(m.delay.count());
      at.emplace_back(opt(m.actor_type));
      ak.emplace_back(opt(m.actor_key));
      k.emplace_back(opt(m.dedup_key));
      md.emplace_back(std::string(to_string(m.dedup_mode)));
      ttl.push_back(m.dedup_ttl.count());
      lk.emplace_back(opt(m.limit_key));
      pr.emplace_back(
          m.priority ? std::optional<std::string>(std::to_string(static_cast<int>(*m.priority)))
                     : std::nullopt);
    }
    using detail::pg_int_array;
    using detail::pg_text_array;
    auto r = tx.exec("mailbox_send_batch_dedup", pg_text_array(q), pg_text_array(t),
                     pg_text_array(e), pg_text_array(o), pg_text_array(p), pg_text_array(h),
                     pg_int_array(d), pg_text_array(at), pg_text_array(ak), pg_text_array(k),
                     pg_text_array(md), pg_int_array(ttl), pg_text_array(lk), pg_text_array(pr));
    for (const auto& row : r) out.push_back({row[0].as<int64_t>(), row[1].as<bool>()});
  }
  return out;
}

caf::error mailbox_store::set_type_priorities(const std::map<std::string, postbox::priority>& types,
                                              const std::string& node) {
  std::vector<std::optional<std::string>> names, tiers;
  for (const auto& [type, p] : types) {
    names.emplace_back(type);
    tiers.emplace_back(std::to_string(static_cast<int>(p)));
  }
  return session_.transact(retry_policy::once, [&](tx_context& tx) -> caf::error {
    tx.exec("type_priorities_set", detail::pg_text_array(names), detail::pg_text_array(tiers),
            node);
    return {};
  });
}

caf::error mailbox_store::ack(tx_context& tx, const lease& l) {
  auto r = tx.exec("mailbox_ack", l.message_id, l.receipt);
  if (r.affected_rows() == 0) return lease_lost("ack", l);
  return {};
}

caf::expected<bool> mailbox_store::ack_stopped(tx_context& tx, const lease& l,
                                               const std::string& execution_id, bool exclusive) {
  auto r = tx.exec("mailbox_ack_stopped", l.message_id, l.receipt, execution_id, exclusive);
  if (r.empty()) return lease_lost("ack", l);
  return r[0][0].c_str() == std::string("t");
}

caf::expected<int64_t> mailbox_store::dead_letter(tx_context& tx, const lease& l,
                                                  const std::string& reason) {
  auto r = tx.exec("mailbox_dead_letter", l.message_id, l.receipt, reason);
  if (r.empty()) return lease_lost("dead_letter", l);
  return r[0][0].as<int64_t>();
}

caf::expected<int64_t> mailbox_store::send(const outgoing_message& msg) {
  return session_.transact_value<int64_t>(retry_policy::never,
                                          [&](tx_context& tx) { return send(tx, msg); });
}

caf::expected<send_result> mailbox_store::send_unique(const outgoing_message& msg) {
  return session_.transact_value<send_result>(retry_policy::never,
                                              [&](tx_context& tx) { return send_unique(tx, msg); });
}

caf::expected<std::vector<int64_t>> mailbox_store::send_batch(
    const std::vector<outgoing_message>& msgs) {
  return session_.transact_value<std::vector<int64_t>>(
      retry_policy::never, [&](tx_context& tx) { return send_batch(tx, msgs); });
}

namespace detail {

std::vector<delivery> deliveries_of(const pqxx::result& r) {
  std::vector<delivery> out;
  out.reserve(r.size());
  for (const auto& row : r) {
    delivery d;
    d.id = row[0].as<int64_t>();
    d.receipt = row[1].as<int64_t>();
    d.queue = row[2].c_str();
    d.type = row[3].c_str();
    d.execution_id = detail::text_or_empty(row[4]);
    d.org = detail::text_or_empty(row[5]);
    d.payload = row[6].c_str();
    d.headers = row[7].c_str();
    d.read_ct = row[8].as<int32_t>();
    d.last_error = detail::text_or_empty(row[9]);
    d.enqueued_epoch = row[10].as<double>();
    d.attempts = row[11].as<int32_t>();
    d.suspect = row[12].as<bool>();
    d.actor_type = detail::text_or_empty(row[13]);
    d.actor_key = detail::text_or_empty(row[14]);
    d.actor_state_version = row[15].is_null() ? -1 : row[15].as<int64_t>();
    out.push_back(std::move(d));
  }
  std::sort(out.begin(), out.end(),
            [](const delivery& a, const delivery& b) { return a.id < b.id; });
  return out;
}

}  // namespace detail

namespace {

std::string text_array(const std::vector<std::string>& v) {
  return detail::pg_text_array({v.begin(), v.end()});
}

}  // namespace

caf::expected<std::vector<delivery>> mailbox_store::read(
    const std::string& queue, int max, std::chrono::milliseconds vt, const std::string& owner,
    const std::string& incarnation, const std::vector<std::string>* types,
    const orphan_sweep* sweep, std::chrono::milliseconds alive_within, bool limited) {
  std::optional<std::string> type_filter, sweep_nodes;
  if (types) type_filter = text_array(*types);
  if (types && sweep) sweep_nodes = text_array(sweep->topology_nodes);
  const int32_t sweep_max = sweep ? sweep->max : 0;
  std::vector<delivery> out;
  // A lost read only leaves rows leased to nobody until the timeout: retrying
  // after a dead connection is safe.
  auto err = session_.transact(
      retry_policy::once,
      [&](tx_context& tx) -> caf::error {
        const std::string inc = incarnation.empty() ? owner : incarnation;
        const auto vt_ms = static_cast<int64_t>(vt.count());
        const auto alive_ms = static_cast<int64_t>(alive_within.count());
        if (!limited) {
          out = detail::deliveries_of(tx.exec("mailbox_read", queue, max, vt_ms, owner, inc,
                                              type_filter, sweep_nodes, sweep_max, alive_ms));
          return {};
        }
        out = detail::deliveries_of(
            tx.exec("mailbox_read_limited", queue, max, vt_ms, owner, inc, type_filter, alive_ms));
        if (sweep_nodes) {  // orphans only: no type of the reader's (an empty list)
          auto orphans =
              detail::deliveries_of(tx.exec("mailbox_read", queue, sweep_max, vt_ms, owner, inc,
                                            std::string("{}"), sweep_nodes, sweep_max, alive_ms));
          out.insert(out.end(), orphans.begin(), orphans.end());
        }
        return {};
      },
      tx_kind::single_statement);
  if (err) return err;
  return out;
}

caf::error mailbox_store::renew_lease(const lease& l, std::chrono::milliseconds vt) {
  return session_.transact(
      retry_policy::once,
      [&](tx_context& tx) -> caf::error {
        auto r =
            tx.exec("mailbox_renew", l.message_id, l.receipt, static_cast<int64_t>(vt.count()));
        // Not renewed: stale receipt, or the row is locked by its ack in progress
        // (then it is still ours; the ack decides).
        if (r.affected_rows() == 0 && tx.exec("mailbox_held", l.message_id, l.receipt).empty())
          return lease_lost("renew", l);
        return {};
      },
      tx_kind::single_statement);
}

caf::expected<std::vector<int64_t>> mailbox_store::renew_leases(const std::vector<lease>& ls,
                                                                std::chrono::milliseconds vt) {
  if (ls.empty()) return std::vector<int64_t>{};
  std::vector<int64_t> ids, receipts;
  for (const auto& l : ls) {
    ids.push_back(l.message_id);
    receipts.push_back(l.receipt);
  }
  return session_.transact_value<std::vector<int64_t>>(
      retry_policy::once,
      [&](tx_context& tx) -> caf::expected<std::vector<int64_t>> {
        auto r = tx.exec("mailbox_renew_many", detail::pg_int_array(ids),
                         detail::pg_int_array(receipts), static_cast<int64_t>(vt.count()));
        std::vector<int64_t> lost;
        for (const auto& row : r) lost.push_back(row[0].as<int64_t>());
        return lost;
      },
      tx_kind::single_statement);
}

caf::error mailbox_store::ack(const lease& l) {
  return session_.transact(
      retry_policy::once, [&](tx_context& tx) { return ack(tx, l); }, tx_kind::single_statement);
}

caf::expected<ack_batch_result> mailbox_store::ack_batch(const std::vector<lease>& leases) {
  ack_batch_result res;
  auto err = session_.transact(
      retry_policy::once,
      [&](tx_context& tx) -> caf::error {
        res = ack_batch_result{};
        std::vector<int64_t> ids, receipts;
        for (const auto& l : leases) {
          ids.push_back(l.message_id);
          receipts.push_back(l.receipt);
        }
        auto r =
            tx.exec("mailbox_ack_batch", detail::pg_int_array(ids), detail::pg_int_array(receipts));
        for (const auto& row : r) res.acked.push_back(row[0].as<int64_t>());
        std::sort(res.acked.begin(), res.acked.end());
        for (auto id : ids)
          if (!std::binary_search(res.acked.begin(), res.acked.end(), id)) res.lost.push_back(id);
        return {};
      },
      tx_kind::single_statement);
  if (err) return err;
  return res;
}

caf::error mailbox_store::nack(const lease& l, std::chrono::milliseconds delay,
                               const std::string& error) {
  return session_.transact(
      retry_policy::once,
      [&](tx_context& tx) -> caf::error {
        auto r = tx.exec("mailbox_nack", l.message_id, l.receipt,
                         static_cast<int64_t>(delay.count()), error);
        if (r.affected_rows() == 0) return lease_lost("nack", l);
        return {};
      },
      tx_kind::single_statement);
}

caf::expected<int32_t> mailbox_store::fail(const lease& l, std::chrono::milliseconds delay,
                                           const std::string& reason) {
  return session_.transact_value<int32_t>(
      retry_policy::once,
      [&](tx_context& tx) -> caf::expected<int32_t> {
        auto r = tx.exec("mailbox_fail", l.message_id, l.receipt,
                         static_cast<int64_t>(delay.count()), reason);
        if (r.empty()) return lease_lost("fail", l);
        return r[0][0].as<int32_t>();
      },
      tx_kind::single_statement);
}

namespace {

/// The answer of a *_unless_locked statement: (done, still held).
caf::error settled_unless_locked(const pqxx::result& r, const char* what, const lease& l) {
  if (!r.empty() && !r[0][0].is_null() && r[0][0].c_str() != std::string("f")) return {};
  if (!r.empty() && r[0][1].c_str() == std::string("t"))
    return make_error(errc::transient, std::string(what) + " of message " +
                                           std::to_string(l.message_id) +
                                           ": its row is locked by another transaction");
  return lease_lost(what, l);
}

}  // namespace

caf::expected<int32_t> mailbox_store::fail_unless_locked(const lease& l,
                                                         std::chrono::milliseconds delay,
                                                         const std::string& reason) {
  return session_.transact_value<int32_t>(
      retry_policy::once,
      [&](tx_context& tx) -> caf::expected<int32_t> {
        auto r = tx.exec("mailbox_fail_unless_locked", l.message_id, l.receipt,
                         static_cast<int64_t>(delay.count()), reason);
        if (auto err = settled_unless_locked(r, "fail", l)) return err;
        return r[0][0].as<int32_t>();
      },
      tx_kind::single_statement);
}

caf::error mailbox_store::nack_unless_locked(const lease& l, std::chrono::milliseconds delay,
                                             const std::string& error) {
  return session_.transact(
      retry_policy::once,
      [&](tx_context& tx) -> caf::error {
        auto r = tx.exec("mailbox_nack_unless_locked", l.message_id, l.receipt,
                         static_cast<int64_t>(delay.count()), error);
        return settled_unless_locked(r, "nack", l);
      },
      tx_kind::single_statement);
}

caf::error mailbox_store::mark_running_alone(const lease& l, const std::string& incarnation) {
  return session_.transact(
      retry_policy::once,
      [&](tx_context& tx) -> caf::error {
        auto r = tx.exec("mailbox_run_alone", l.message_id, l.receipt, incarnation);
        if (r.affected_rows() == 0) return lease_lost("run alone", l);
        return {};
      },
      tx_kind::single_statement);
}

caf::expected<int64_t> mailbox_store::dead_letter(const lease& l, const std::string& reason) {
  return session_.transact_value<int64_t>(
      retry_policy::once, [&](tx_context& tx) { return dead_letter(tx, l, reason); },
      tx_kind::single_statement);
}

caf::expected<int64_t> mailbox_store::depth(const std::string& queue) {
  return session_.transact_value<int64_t>(
      retry_policy::once,
      [&](tx_context& tx) {
        return caf::expected<int64_t>{tx.exec("mailbox_depth", queue)[0][0].as<int64_t>()};
      },
      tx_kind::single_statement);
}

caf::expected<std::vector<std::string>> mailbox_store::ready_queues(
    const std::vector<std::string>& queues) {
  return session_.transact_value<std::vector<std::string>>(
      retry_policy::once,
      [&](tx_context& tx) {
        std::vector<std::string> out;
        const std::vector<std::optional<std::string>> names(queues.begin(), queues.end());
        for (const auto& row : tx.exec("mailbox_ready_queues", detail::pg_text_array(names)))
          out.push_back(row[0].as<std::string>());
        return caf::expected<std::vector<std::string>>{std::move(out)};
      },
      tx_kind::single_statement);
}

std::chrono::milliseconds backoff_delay(int attempt, std::chrono::milliseconds base,
                                        std::chrono::milliseconds cap) {
  if (attempt < 1) attempt = 1;
  auto d = base;
  for (int i = 1; i < attempt && d < cap; ++i) d *= 2;
  return std::min(d, cap);
}

}  // namespace postbox

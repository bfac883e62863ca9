// SQL calls behind `postbox executions|queues|nodes|dead-letters`.
#include "persistence/inspect_store.hpp"

#include "persistence/detail/tx_context.hpp"

namespace postbox {

caf::expected<std::vector<execution_record>> inspect_store::executions(
    const std::optional<std::string>& status, const std::optional<std::string>& workflow,
    int limit) {
  return session_.transact_value<std::vector<execution_record>>(
      retry_policy::once,
      [&](tx_context& tx) -> caf::expected<std::vector<execution_record>> {
        std::vector<execution_record> out;
        auto r = tx.exec("executions_list", status ? status->c_str() : nullptr,
                         workflow ? workflow->c_str() : nullptr, limit);
        for (const auto& row : r) {
          auto e = detail::execution_from_row(row);
          if (!e) return e.error();
          out.push_back(std::move(*e));
        }
        return out;
      },
      tx_kind::single_statement);
}

caf::expected<std::vector<queue_overview>> inspect_store::queues() {
  return session_.transact_value<std::vector<queue_overview>>(
      retry_policy::once,
      [&](tx_context& tx) -> caf::expected<std::vector<queue_overview>> {
        std::vector<queue_overview> out;
        for (const auto& row : tx.exec("inspect_queues")) {
          out.push_back({row[0].c_str(), row[1].as<int64_t>(), row[2].as<int64_t>(),
                         row[3].as<int64_t>(), row[4].as<int64_t>(), row[5].as<double>(),
                         row[6].as<int64_t>(), row[7].as<int64_t>(), row[8].as<int64_t>()});
          for (int k = 0; k < 4; ++k) out.back().ready_by_priority[k] = row[9 + k].as<int64_t>();
        }
        return out;
      },
      tx_kind::single_statement);
}

caf::expected<std::vector<limit_overview>> inspect_store::limits() {
  return session_.transact_value<std::vector<limit_overview>>(
      retry_policy::once,
      [&](tx_context& tx) -> caf::expected<std::vector<limit_overview>> {
        std::vector<limit_overview> out;
        for (const auto& row : tx.exec("inspect_limits"))
          out.push_back({row[0].c_str(), row[1].c_str(), row[2].as<int64_t>(), row[3].as<double>(),
                         row[4].as<int64_t>(), row[5].as<int64_t>(), row[6].as<int64_t>(),
                         row[7].as<int64_t>()});
        return out;
      },
      tx_kind::single_statement);
}

caf::expected<std::vector<node_overview>> inspect_store::nodes() {
  return session_.transact_value<std::vector<node_overview>>(
      retry_policy::once,
      [&](tx_context& tx) -> caf::expected<std::vector<node_overview>> {
        std::vector<node_overview> out;
        for (const auto& row : tx.exec("inspect_nodes"))
          out.push_back({row[0].c_str(), row[1].c_str(), row[2].as<int32_t>(), row[3].as<int32_t>(),
                         row[4].c_str(), row[5].as<int32_t>(), row[6].as<double>(),
                         row[7].as<double>(), row[8].as<bool>()});
        return out;
      },
      tx_kind::single_statement);
}

caf::expected<std::vector<dead_letter_record>> inspect_store::dead_letters(int limit) {
  return session_.transact_value<std::vector<dead_letter_record>>(
      retry_policy::once,
      [&](tx_context& tx) -> caf::expected<std::vector<dead_letter_record>> {
        std::vector<dead_letter_record> out;
        for (const auto& row : tx.exec("dead_letters_list", limit)) {
          dead_letter_record d;
          d.id = row[0].as<int64_t>();
          d.message_id = row[1].as<int64_t>();
          d.queue = row[2].c_str();
          d.type = row[3].c_str();
          d.execution_id = row[4].c_str();
          d.read_ct = row[5].as<int32_t>();
          d.reason = row[6].c_str();
          d.dead_epoch = row[7].as<double>();
          d.retried_as = row[8].as<int64_t>();
          d.attempts = row[9].as<int32_t>();
          out.push_back(std::move(d));
        }
        return out;
      },
      tx_kind::single_statement);
}

caf::expected<dead_letter_record> inspect_store::dead_letter(int64_t id) {
  return session_.transact_value<dead_letter_record>(
      retry_policy::once,
      [&](tx_context& tx) -> caf::expected<dead_letter_record> {
        auto r = tx.exec("dead_letters_show", id);
        if (r.empty()) return make_error(errc::not_found, "no dead letter " + std::to_string(id));
        const auto& row = r[0];
        dead_letter_record d;
        d.id = row[0].as<int64_t>();
        d.message_id = row[1].as<int64_t>();
        d.queue = row[2].c_str();
        d.type = row[3].c_str();
        d.execution_id = row[4].c_str();
        d.org = row[5].c_str();
        d.payload = row[6].c_str();
        d.headers = row[7].c_str();
        d.read_ct = row[8].as<int32_t>();
        d.last_error = row[9].c_str();
        d.reason = row[10].c_str();
        d.enqueued_epoch = row[11].as<double>();
        d.dead_epoch = row[12].as<double>();
        d.dead_by = row[13].c_str();
        d.retried_as = row[14].as<int64_t>();
        d.attempts = row[15].as<int32_t>();
        return d;
      },
      tx_kind::single_statement);
}

caf::expected<int64_t> inspect_store::dead_letter_retry(int64_t id) {
  // Never blindly: a second run after an unknown outcome would find it retried.
  return session_.transact_value<int64_t>(
      retry_policy::never, [&](tx_context& tx) -> caf::expected<int64_t> {
        auto r = tx.exec("dead_letters_retry", id);
        if (!r.empty()) return r[0][0].as<int64_t>();
        auto d = tx.exec("dead_letters_show", id);
        if (d.empty()) return make_error(errc::not_found, "no dead letter " + std::to_string(id));
        // Its dedup key is held by a live message: reported, the dead letter stays.
        auto holder = tx.exec("dead_letters_dedup_holder", id);
        if (!holder.empty())
          return make_error(errc::invalid_argument,
                            "dead letter " + std::to_string(id) + " not retried: its dedup key '" +
                                holder[0][1].c_str() + "' is held by live message " +
                                holder[0][0].c_str() + " (retry it after that one ends)");
        return make_error(errc::invalid_argument, "dead letter " + std::to_string(id) +
                                                      " was already retried as message " +
                                                      d[0][14].c_str());
      });
}

caf::expected<std::vector<batch_overview>> inspect_store::execution_batches(
    const std::string& execution_id) {
  return session_.transact_value<std::vector<batch_overview>>(
      retry_policy::once,
      [&](tx_context& tx) -> caf::expected<std::vector<batch_overview>> {
        std::vector<batch_overview> out;
        for (const auto& row : tx.exec("execution_batches", execution_id))
          out.push_back({row[0].as<int32_t>(), row[1].as<int64_t>(), row[2].as<int64_t>()});
        return out;
      },
      tx_kind::read_only);
}

caf::expected<std::vector<failed_file>> inspect_store::failed_files(const std::string& execution_id,
                                                                    int limit) {
  return session_.transact_value<std::vector<failed_file>>(
      retry_policy::once,
      [&](tx_context& tx) -> caf::expected<std::vector<failed_file>> {
        std::vector<failed_file> out;
        for (const auto& row : tx.exec("execution_failed_files", execution_id, limit))
          out.push_back({row[0].c_str(), row[1].as<int32_t>(), row[2].c_str()});
        return out;
      },
      tx_kind::read_only);
}

caf::expected<int64_t> inspect_store::dead_letters_retry_queue(const std::string& queue,
                                                               int limit) {
  return session_.transact_value<int64_t>(
      retry_policy::never, [&](tx_context& tx) -> caf::expected<int64_t> {
        int64_t n = 0;
        for (const auto& row : tx.exec("dead_letters_pending_ids", queue, limit))
          n += tx.exec("dead_letters_retry", row[0].as<int64_t>()).empty() ? 0 : 1;
        return n;
      });
}

}  // namespace postbox

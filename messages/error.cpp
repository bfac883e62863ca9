// Rendering and construction of postbox errors.
#include "messages/error.hpp"

#include <caf/atom.hpp>
#include <caf/make_message.hpp>
#include <caf/message.hpp>

namespace postbox {

caf::atom_value errc_category() {
  return caf::atom("postbox");
}

caf::error make_error(errc code, std::string detail) {
  return caf::error{static_cast<uint8_t>(code), errc_category(),
                    caf::make_message(std::move(detail))};
}

const char* to_string(errc code) {
  switch (code) {
    case errc::connection_lost:
      return "connection_lost";
    case errc::lease_lost:
      return "lease_lost";
    case errc::constraint_violation:
      return "constraint_violation";
    case errc::logic_error:
      return "logic_error";
    case errc::serialization_failure:
      return "serialization_failure";
    case errc::not_found:
      return "not_found";
    case errc::decode_failed:
      return "decode_failed";
    case errc::invalid_argument:
      return "invalid_argument";
    case errc::config_error:
      return "config_error";
    case errc::io_error:
      return "io_error";
    case errc::timeout:
      return "timeout";
    case errc::unauthorized:
      return "unauthorized";
    case errc::unreachable:
      return "unreachable";
    case errc::transient:
      return "transient";
    case errc::execution_stopped:
      return "execution_stopped";
    case errc::schema_newer:
      return "schema_newer";
  }
  return "unknown";
}

uint8_t code_of(const caf::error& err) {
  if (!err || err.category() != errc_category()) return 0;
  return err.code();
}

bool is(const caf::error& err, errc code) {
  return code_of(err) == static_cast<uint8_t>(code);
}

std::string describe(const caf::error& err) {
  if (!err) return "ok";
  std::string detail;
  const auto& ctx = err.context();
  if (ctx.size() == 1 && ctx.match_element<std::string>(0)) detail = ctx.get_as<std::string>(0);
  std::string head;
  if (err.category() == errc_category())
    head = to_string(static_cast<errc>(err.code()));
  else
    head = caf::to_string(err.category()) + ":" + std::to_string(err.code());
  if (detail.empty()) return head;
  // One line: server messages (libpq) come with newlines and tabs.
  std::string flat;
  for (char c : detail) {
    bool space = c == '\n' || c == '\r' || c == '\t' || c == ' ';
    if (space && (flat.empty() || flat.back() == ' ')) continue;
    flat += space ? ' ' : c;
  }
  while (!flat.empty() && flat.back() == ' ') flat.pop_back();
  return head + ": " + flat;
}

std::string detail_of(const caf::error& err) {
  std::string text = describe(err);
  const auto& ctx = err.context();
  if (!err || ctx.size() != 1 || !ctx.match_element<std::string>(0)) return text;
  auto colon = text.find(": ");
  return colon == std::string::npos ? text : text.substr(colon + 2);
}

}  // namespace postbox

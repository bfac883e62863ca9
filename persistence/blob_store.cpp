// SQL calls of blobs; bytea travels as hex text (libpqxx 6 has no binary parameters).
#include "persistence/blob_store.hpp"

#include "persistence/detail/tx_context.hpp"

namespace postbox {

namespace {

std::string to_hex(const std::string& bytes) {
  static const char* digits = "0123456789abcdef";
  std::string out;
  out.reserve(bytes.size() * 2);
  for (unsigned char c : bytes) {
    out += digits[c >> 4];
    out += digits[c & 15];
  }
  return out;
}

}  // namespace

caf::expected<std::string> blob_store::put(const std::string& name, const std::string& content) {
  return session_.transact_value<std::string>(
      retry_policy::never, [&](tx_context& tx) -> caf::expected<std::string> {
        auto r = tx.exec("blobs_put", name, to_hex(content));
        return std::string(r[0][0].c_str());
      });
}

}  // namespace postbox

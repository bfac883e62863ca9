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

int nibble(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

bool from_hex(const char* hex, size_t n, std::string& out) {
  if (n % 2) return false;
  out.resize(n / 2);
  for (size_t i = 0; i < n; i += 2) {
    int hi = nibble(hex[i]), lo = nibble(hex[i + 1]);
    if (hi < 0 || lo < 0) return false;
    out[i / 2] = static_cast<char>(hi * 16 + lo);
  }
  return true;
}

}  // namespace

caf::expected<std::string> blob_store::put(const std::string& name, const std::string& content) {
  return session_.transact_value<std::string>(
      retry_policy::never, [&](tx_context& tx) -> caf::expected<std::string> {
        auto r = tx.exec("blobs_put", name, to_hex(content));
        return std::string(r[0][0].c_str());
      });
}

caf::expected<blob> blob_store::get(const std::string& id) {
  return session_.transact_value<blob>(
      retry_policy::once,
      [&](tx_context& tx) -> caf::expected<blob> {
        auto r = tx.exec("blobs_get", id);
        if (r.empty()) return make_error(errc::not_found, "no blob " + id);
        blob b;
        b.name = r[0][0].c_str();
        if (!from_hex(r[0][1].c_str(), r[0][1].size(), b.content))
          return make_error(errc::logic_error, "blob " + id + " is not valid hex");
        return b;
      },
      tx_kind::single_statement);
}

}  // namespace postbox

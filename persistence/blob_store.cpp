// SQL calls of blobs; bytea travels as hex text (libpqxx 6 has no binary parameters).
#include "persistence/blob_store.hpp"

#include <pqxx/stream_to>

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

caf::expected<int64_t> blob_store::put_all(tx_context& tx, const blob_source& next,
                                           const std::string& execution_id) {
  pqxx::stream_to copy{
      tx.work(), "postbox.blobs",
      std::vector<std::string>{"id", "name", "size", "sha256", "content", "execution_id"}};
  int64_t n = 0;
  for (;;) {
    auto b = next();
    if (!b) return b.error();  // the transaction rolls back: nothing of the upload stays
    if (!*b) break;
    // bytea in COPY's text format: "\x" and hex (stream_to escapes the backslash).
    copy << std::make_tuple((*b)->id, (*b)->name, static_cast<int64_t>((*b)->content.size()),
                            (*b)->sha256, "\\x" + to_hex((*b)->content), execution_id);
    ++n;
  }
  copy.complete();
  return n;
}

caf::expected<std::string> blob_store::put(const std::string& name, const std::string& content) {
  return session_.transact_value<std::string>(
      retry_policy::never, [&](tx_context& tx) -> caf::expected<std::string> {
        auto r = tx.exec("blobs_put", name, to_hex(content));
        return std::string(r[0][0].c_str());
      });
}

}  // namespace postbox

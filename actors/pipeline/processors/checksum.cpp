// The `checksum` processor: sha256 (hex) and size of a file, streamed through OpenSSL EVP so
// large files never sit in memory.
#include <openssl/evp.h>

#include <cstdint>
#include <memory>

#include "actors/pipeline/processors/processor.hpp"

namespace postbox {

namespace {

class checksum_processor : public processor {
 public:
  processor_outcome process(const file_input& in) override {
    processor_outcome out;
    std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> ctx(EVP_MD_CTX_new(), EVP_MD_CTX_free);
    if (!ctx || EVP_DigestInit_ex(ctx.get(), EVP_sha256(), nullptr) != 1) {
      out.error = "checksum: cannot initialize sha256";
      return out;
    }
    uint64_t size = 0;
    bool digest_ok = true;
    auto err = detail::read_file_chunks(in.path, [&](const char* data, std::size_t n) {
      size += n;
      if (digest_ok && EVP_DigestUpdate(ctx.get(), data, n) != 1) digest_ok = false;
    });
    if (!err.empty()) {
      out.error = detail::sanitize_text(err);
      return out;
    }
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int md_len = 0;
    if (!digest_ok || EVP_DigestFinal_ex(ctx.get(), md, &md_len) != 1) {
      out.error = "checksum: sha256 failed";
      return out;
    }
    static constexpr char hex[] = "0123456789abcdef";
    std::string digest;
    digest.reserve(md_len * 2);
    for (unsigned int i = 0; i < md_len; ++i) {
      digest += hex[md[i] >> 4];
      digest += hex[md[i] & 0x0F];
    }
    out.ok = true;
    out.result_json = R"({"sha256":")" + digest + R"(","size":)" + std::to_string(size) + "}";
    return out;
  }
};

}  // namespace

namespace detail {

caf::expected<std::unique_ptr<processor>> make_checksum_processor(const std::string& options_json) {
  if (auto err = expect_no_options("checksum", options_json)) return err;
  return std::unique_ptr<processor>(new checksum_processor);
}

}  // namespace detail

}  // namespace postbox

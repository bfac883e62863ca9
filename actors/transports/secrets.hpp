// Secrets of the node's endpoints: one constant-time comparison for every token
// (control plane, dashboard) and random tokens from OpenSSL's RAND_bytes.
#pragma once

#include <caf/expected.hpp>
#include <cstddef>
#include <string>

namespace postbox {

/// True when `given` equals `expected`, in time that depends on neither their
/// contents nor their lengths (both are hashed with SHA-256 and the digests compared
/// with CRYPTO_memcmp), so response timing leaks nothing of a token.
bool same_secret(const std::string& given, const std::string& expected);

/// `bytes` random bytes from OpenSSL's RAND_bytes as lower-case hex; an error when
/// the generator is not seeded.
caf::expected<std::string> random_token(std::size_t bytes = 32);

}  // namespace postbox

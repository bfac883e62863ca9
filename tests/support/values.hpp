// value_of(expected): the value, or fail the test with the error's description.
// Use it instead of `*store.call()` inside CAF_CHECK_*: the macros bind their
// arguments to references, and `*temporary_expected` would dangle.
#pragma once

#include <caf/expected.hpp>
#include <caf/test/unit_test.hpp>

#include "messages/error.hpp"

namespace postbox::test {

template <class T>
T value_of(caf::expected<T> x) {
  if (!x) CAF_FAIL("unexpected error: " << postbox::describe(x.error()));
  return std::move(*x);
}

}  // namespace postbox::test

// The `wordcount` processor: words (maximal runs of non-whitespace), lines and bytes of a file,
// counted in one streaming pass. A last line without a trailing newline counts as a line.
#include <cstdint>
#include <memory>

#include "actors/pipeline/processors/processor.hpp"

namespace postbox {

namespace {

// The C locale's whitespace, fixed so results do not depend on the process locale.
bool is_space(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r';
}

class wordcount_processor : public processor {
 public:
  processor_outcome process(const file_input& in) override {
    processor_outcome out;
    uint64_t words = 0, newlines = 0, bytes = 0;
    bool in_word = false;
    char last = '\n';
    auto err = detail::read_file_chunks(in.path, [&](const char* data, std::size_t n) {
      bytes += n;
      for (std::size_t i = 0; i < n; ++i) {
        const char c = data[i];
        if (c == '\n') ++newlines;
        if (is_space(c)) {
          in_word = false;
        } else if (!in_word) {
          in_word = true;
          ++words;
        }
      }
      if (n > 0) last = data[n - 1];
    });
    if (!err.empty()) {
      out.error = detail::sanitize_text(err);
      return out;
    }
    const uint64_t lines = newlines + (last != '\n' ? 1 : 0);
    out.ok = true;
    out.result_json = R"({"words":)" + std::to_string(words) + R"(,"lines":)" +
                      std::to_string(lines) + R"(,"bytes":)" + std::to_string(bytes) + "}";
    return out;
  }
};

}  // namespace

namespace detail {

caf::expected<std::unique_ptr<processor>> make_wordcount_processor(
    const std::string& options_json) {
  if (auto err = expect_no_options("wordcount", options_json)) return err;
  return std::unique_ptr<processor>(new wordcount_processor);
}

}  // namespace detail

}  // namespace postbox

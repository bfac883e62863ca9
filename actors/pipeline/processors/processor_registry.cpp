// The processor registry (name -> factory) and helpers the built-ins share. Factories are
// user code, so create() turns their exceptions and null results into errors.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <boost/json.hpp>
#include <cerrno>
#include <exception>
#include <string_view>
#include <system_error>
#include <vector>

#include "actors/pipeline/processors/processor.hpp"
#include "messages/error.hpp"
#include "messages/utf8.hpp"

namespace postbox {

namespace json = boost::json;

processor_registry processor_registry::with_builtins() {
  processor_registry r;
  r.add("checksum", detail::make_checksum_processor);
  r.add("wordcount", detail::make_wordcount_processor);
  r.add("exec", detail::make_exec_processor);
  r.add("chaos", detail::make_chaos_processor);
  return r;
}

void processor_registry::add(const std::string& name, processor_factory f) {
  factories_[name] = std::move(f);
}

bool processor_registry::contains(const std::string& name) const {
  return factories_.count(name) > 0;
}

std::set<std::string> processor_registry::names() const {
  std::set<std::string> out;
  for (const auto& kv : factories_) out.insert(kv.first);
  return out;
}

caf::expected<std::unique_ptr<processor>> processor_registry::create(
    const std::string& name, const std::string& options_json) const {
  auto i = factories_.find(name);
  if (i == factories_.end()) {
    std::string known;
    for (const auto& kv : factories_) known += (known.empty() ? "" : ", ") + kv.first;
    return make_error(errc::invalid_argument,
                      "unknown processor '" + name + "' (known: " + known + ")");
  }
  if (!i->second)
    return make_error(errc::invalid_argument, "processor '" + name + "' has no factory");
  try {
    auto p = i->second(options_json.empty() ? std::string("{}") : options_json);
    if (p && !*p)
      return make_error(errc::invalid_argument,
                        "processor '" + name + "': factory returned no processor");
    return p;
  } catch (const std::exception& e) {
    return make_error(errc::invalid_argument,
                      "processor '" + name + "': factory threw: " + e.what());
  } catch (...) {
    return make_error(errc::invalid_argument, "processor '" + name + "': factory threw");
  }
}

namespace detail {

caf::error expect_no_options(const std::string& processor_name, const std::string& options_json) {
  if (options_json.empty()) return {};
  json::error_code ec;
  json::value v = json::parse(options_json, ec);
  if (ec)
    return make_error(errc::invalid_argument,
                      processor_name + ": options are not valid JSON: " + ec.message());
  const json::object* o = v.if_object();
  if (!o) return make_error(errc::invalid_argument, processor_name + ": options must be an object");
  if (!o->empty())
    return make_error(errc::invalid_argument, processor_name + ": unknown option '" +
                                                  std::string(o->begin()->key()) +
                                                  "' (this processor takes no options)");
  return {};
}

std::string read_file_chunks(const std::string& path,
                             const std::function<void(const char*, std::size_t)>& chunk) {
  auto reason = [](int err) { return std::error_code(err, std::generic_category()).message(); };
  // O_NONBLOCK so a FIFO at `path` is refused below instead of blocking the worker in open().
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK);
  if (fd < 0) return "cannot open " + path + ": " + reason(errno);
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    int err = errno;
    ::close(fd);
    return "cannot stat " + path + ": " + reason(err);
  }
  if (!S_ISREG(st.st_mode)) {
    ::close(fd);
    return path + " is not a regular file";
  }
  std::vector<char> buf(64 * 1024);
  for (;;) {
    ssize_t n = ::read(fd, buf.data(), buf.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      int err = errno;
      ::close(fd);
      return "cannot read " + path + ": " + reason(err);
    }
    if (n == 0) break;
    chunk(buf.data(), static_cast<std::size_t>(n));
  }
  ::close(fd);
  return {};
}

std::string sanitize_text(const std::string& text) {
  // NUL cannot go into a PostgreSQL text column; the rest must be valid UTF-8.
  std::string without_nul;
  without_nul.reserve(text.size());
  for (char c : text)
    if (c != '\0') without_nul += c;
  return utf8_sanitize(without_nul);
}

}  // namespace detail

}  // namespace postbox

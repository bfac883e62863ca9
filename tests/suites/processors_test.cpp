// The built-in processors (checksum, wordcount, exec, chaos), their option checking, and
// the registry with a user-defined processor. Needs no database.
#define CAF_SUITE processors
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <boost/json.hpp>
#include <caf/test/unit_test.hpp>
#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <thread>
#include <vector>

#include "actors/pipeline/processors/processor.hpp"
#include "messages/error.hpp"

using namespace postbox;
namespace json = boost::json;

namespace {

bool has(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

json::object result_of(const processor_outcome& out) {
  json::error_code ec;
  json::value v = json::parse(out.result_json, ec);
  if (ec || !v.is_object()) return {};
  return v.as_object();
}

/// No child of this process is left, running or as a zombie.
bool no_children_left() {
  int status = 0;
  pid_t r = ::waitpid(-1, &status, WNOHANG);
  return r == 0 || (r < 0 && errno == ECHILD);
}

struct fixture {
  processor_registry registry = processor_registry::with_builtins();
  std::string dir;

  fixture() {
    std::string templ = (std::filesystem::temp_directory_path() / "postbox-proc-XXXXXX").string();
    if (::mkdtemp(templ.data()) == nullptr) CAF_FAIL("mkdtemp failed");
    dir = templ;
  }

  ~fixture() {
    std::error_code ec;
    std::filesystem::remove_all(dir, ec);
  }

  std::string write(const std::string& name, const std::string& content) {
    std::string path = dir + "/" + name;
    std::ofstream f(path, std::ios::binary);
    f << content;
    return path;
  }

  std::unique_ptr<processor> make(const std::string& name, const std::string& options = "{}") {
    auto p = registry.create(name, options);
    if (!p) CAF_FAIL("cannot create " << name << ": " << describe(p.error()));
    return std::move(*p);
  }

  processor_outcome run(const std::string& name, const std::string& options,
                        const std::string& path, const std::string& file_name = "f.txt") {
    return make(name, options)->process({path, path, file_name});
  }

  /// The error text of creating `name` with `options`, or "" when it was created.
  std::string create_error(const std::string& name, const std::string& options) {
    auto p = registry.create(name, options);
    if (p) return {};
    CAF_CHECK(is(p.error(), errc::invalid_argument));
    return describe(p.error());
  }
};

class shout_processor : public processor {
 public:
  explicit shout_processor(std::string suffix) : suffix_(std::move(suffix)) {}
  processor_outcome process(const file_input& in) override {
    processor_outcome out;
    out.ok = true;
    out.result_json = json::serialize(json::object{{"shout", in.name + suffix_}});
    return out;
  }

 private:
  std::string suffix_;
};

}  // namespace

CAF_TEST_FIXTURE_SCOPE(processor_tests, fixture)

CAF_TEST(checksum gives sha256 and size) {
  auto out = run("checksum", "{}", write("hello.txt", "hello\n"));
  CAF_REQUIRE(out.ok);
  auto r = result_of(out);
  CAF_CHECK_EQUAL(json::value_to<std::string>(r["sha256"]),
                  "5891b5b522d5df086d0ff0b110fbd9d21bb4fc7163af34d08286a2e846f6be03");
  CAF_CHECK_EQUAL(r["size"].to_number<int64_t>(), 6);

  out = run("checksum", "", write("empty.txt", ""));
  CAF_REQUIRE(out.ok);
  r = result_of(out);
  CAF_CHECK_EQUAL(json::value_to<std::string>(r["sha256"]),
                  "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  CAF_CHECK_EQUAL(r["size"].to_number<int64_t>(), 0);
}

CAF_TEST(checksum streams a file larger than its buffer) {
  std::string big(200 * 1024 + 17, 'x');
  auto out = run("checksum", "{}", write("big.bin", big));
  CAF_REQUIRE(out.ok);
  CAF_CHECK_EQUAL(result_of(out)["size"].to_number<int64_t>(), 200 * 1024 + 17);
}

CAF_TEST(checksum of a missing file fails naming the path) {
  const std::string missing = dir + "/nope.txt";
  auto out = run("checksum", "{}", missing);
  CAF_CHECK(!out.ok);
  CAF_MESSAGE("error: " << out.error);
  CAF_CHECK(has(out.error, missing));
  auto dir_out = run("checksum", "{}", dir);
  CAF_CHECK(!dir_out.ok);
  CAF_CHECK(has(dir_out.error, "not a regular file"));
}

CAF_TEST(wordcount counts words lines and bytes) {
  auto out = run("wordcount", "{}", write("w.txt", "a b\n c\n"));
  CAF_REQUIRE(out.ok);
  auto r = result_of(out);
  CAF_CHECK_EQUAL(r["words"].to_number<int64_t>(), 3);
  CAF_CHECK_EQUAL(r["lines"].to_number<int64_t>(), 2);
  CAF_CHECK_EQUAL(r["bytes"].to_number<int64_t>(), 7);

  r = result_of(run("wordcount", "", write("nonl.txt", "one\ttwo  three")));
  CAF_CHECK_EQUAL(r["words"].to_number<int64_t>(), 3);
  CAF_CHECK_EQUAL(r["lines"].to_number<int64_t>(), 1);

  r = result_of(run("wordcount", "{}", write("empty.txt", "")));
  CAF_CHECK_EQUAL(r["words"].to_number<int64_t>(), 0);
  CAF_CHECK_EQUAL(r["lines"].to_number<int64_t>(), 0);
  CAF_CHECK(!run("wordcount", "{}", dir + "/missing").ok);
}

CAF_TEST(exec stdout json is the result) {
  auto out = run("exec", R"({"argv": ["/bin/sh", "-c", "printf '{\"n\": 1}'"]})", "/dev/null");
  CAF_REQUIRE(out.ok);
  CAF_CHECK(has(out.result_json, "\"n\""));
  CAF_CHECK_EQUAL(result_of(out)["n"].to_number<int64_t>(), 1);
  CAF_CHECK(no_children_left());
}

CAF_TEST(exec substitutes path and name) {
  const std::string path = write("doc.json", R"({"from": "file", "k": [1, 2]})");
  auto out = run("exec", R"({"argv": ["/bin/cat", "{path}"]})", path);
  CAF_REQUIRE(out.ok);
  auto r = result_of(out);
  CAF_CHECK_EQUAL(json::value_to<std::string>(r["from"]), "file");
  CAF_CHECK_EQUAL(r["k"].as_array().size(), 2u);

  out = run("exec",
            R"({"argv": ["/bin/sh", "-c", "printf '{\"arg\": \"%s\"}' \"$0\"", "x{name}-{name}"],
                "timeout": 5000})",
            path, "doc.json");
  CAF_REQUIRE(out.ok);
  CAF_CHECK_EQUAL(json::value_to<std::string>(result_of(out)["arg"]), "xdoc.json-doc.json");
}

CAF_TEST(exec non zero exit fails with code and stderr) {
  auto out = run("exec", R"({"argv": ["/bin/sh", "-c", "echo boom >&2; exit 3"]})", "/dev/null");
  CAF_CHECK(!out.ok);
  CAF_MESSAGE("error: " << out.error);
  CAF_CHECK(has(out.error, "exit code 3"));
  CAF_CHECK(has(out.error, "boom"));

  out = run("exec", R"({"argv": ["/bin/sh", "-c", "kill -TERM $$"]})", "/dev/null");
  CAF_CHECK(!out.ok);
  CAF_CHECK(has(out.error, "SIGTERM"));
  CAF_CHECK(no_children_left());
}

CAF_TEST(exec stderr keeps only its tail) {
  auto out = run("exec",
                 R"({"argv": ["/bin/sh", "-c",
                     "head -c 100000 /dev/zero | tr '\\0' a >&2; echo END >&2; exit 1"]})",
                 "/dev/null");
  CAF_CHECK(!out.ok);
  CAF_CHECK(has(out.error, "END"));
  CAF_CHECK_LESS_OR_EQUAL(out.error.size(), 4096u + 64u);
}

CAF_TEST(exec timeout kills the child) {
  CAF_REQUIRE(no_children_left());
  auto start = std::chrono::steady_clock::now();
  auto out = run("exec", R"({"argv": ["/bin/sleep", "5"], "timeout": "300ms"})", "/dev/null");
  auto elapsed = std::chrono::steady_clock::now() - start;
  CAF_CHECK(!out.ok);
  CAF_CHECK_EQUAL(out.error, "timed out after 300ms");
  CAF_CHECK_LESS(elapsed, std::chrono::seconds(2));
  CAF_CHECK_GREATER_OR_EQUAL(elapsed, std::chrono::milliseconds(300));
  CAF_CHECK(no_children_left());
}

CAF_TEST(exec timeout kills the whole process group) {
  auto start = std::chrono::steady_clock::now();
  auto out =
      run("exec", R"({"argv": ["/bin/sh", "-c", "sleep 5 & sleep 5; wait"], "timeout": 300})",
          "/dev/null");
  CAF_CHECK(!out.ok);
  CAF_CHECK(has(out.error, "timed out"));
  CAF_CHECK_LESS(std::chrono::steady_clock::now() - start, std::chrono::seconds(2));
  CAF_CHECK(no_children_left());
}

CAF_TEST(exec does not wait for leftovers holding stdout) {
  auto start = std::chrono::steady_clock::now();
  auto out = run("exec", R"({"argv": ["/bin/sh", "-c", "sleep 5 & printf '{}'"]})", "/dev/null");
  CAF_CHECK(out.ok);
  CAF_CHECK_EQUAL(out.result_json, "{}");
  CAF_CHECK_LESS(std::chrono::steady_clock::now() - start, std::chrono::seconds(2));
  CAF_CHECK(no_children_left());
}

// An exec tool gets its `env` option and PATH, HOME and LANG: nothing else of the
// node's environment (POSTBOX_DSN with its password, the control token).
CAF_TEST(exec passes only its env and path home lang) {
  ::setenv("PB_NODE_SECRET", "s3cret", 1);
  auto out = run("exec",
                 R"({"argv": ["/bin/sh", "-c",
                     "printf '{\"secret\": \"%s\", \"mine\": \"%s\", \"path\": \"%s\"}' \"$PB_NODE_SECRET\" \"$MINE\" \"$PATH\""],
                     "env": {"MINE": "yes"}})",
                 "/dev/null");
  ::unsetenv("PB_NODE_SECRET");
  CAF_REQUIRE(out.ok);
  auto r = result_of(out);
  CAF_CHECK_EQUAL(json::value_to<std::string>(r["secret"]), "");
  CAF_CHECK_EQUAL(json::value_to<std::string>(r["mine"]), "yes");
  CAF_CHECK_EQUAL(json::value_to<std::string>(r["path"]), std::getenv("PATH"));
  CAF_CHECK(has(create_error("exec", R"({"argv": ["x"], "env": {"A": 1}})"), "env.A"));
  CAF_CHECK(no_children_left());
}

CAF_TEST(exec stdout that is not a json object fails) {
  auto out = run("exec", R"({"argv": ["/bin/echo", "hello"]})", "/dev/null");
  CAF_CHECK(!out.ok);
  CAF_CHECK(has(out.error, "stdout is not a JSON object"));
  out = run("exec", R"({"argv": ["/bin/echo", "[1, 2]"]})", "/dev/null");
  CAF_CHECK(!out.ok);
  CAF_CHECK(has(out.error, "stdout is not a JSON object"));
  out = run("exec", R"({"argv": ["/bin/sh", "-c", "head -c 2000000 /dev/zero"]})", "/dev/null");
  CAF_CHECK(!out.ok);
  CAF_CHECK(has(out.error, "1 MiB"));
  CAF_CHECK(no_children_left());
}

// As execvp does: an executable file without a #! line runs with /bin/sh.
CAF_TEST(exec runs a script without a shebang line with the shell) {
  const std::string script = write("no_shebang.sh", "printf '{\"arg\": \"%s\"}' \"$1\"\n");
  CAF_REQUIRE_EQUAL(::chmod(script.c_str(), 0755), 0);
  auto out = run("exec", R"({"argv": [")" + script + R"(", "{name}"]})", "/dev/null", "f.txt");
  CAF_REQUIRE(out.ok);
  CAF_CHECK_EQUAL(json::value_to<std::string>(result_of(out)["arg"]), "f.txt");
  CAF_CHECK(no_children_left());
}

CAF_TEST(exec of a missing program fails clearly) {
  auto out = run("exec", R"({"argv": ["/nonexistent/prog", "{path}"]})", "/dev/null");
  CAF_CHECK(!out.ok);
  CAF_MESSAGE("error: " << out.error);
  CAF_CHECK(has(out.error, "/nonexistent/prog"));
  CAF_CHECK(has(out.error, "No such file"));
  out = run("exec", R"({"argv": ["postbox-no-such-program"]})", "/dev/null");
  CAF_CHECK(!out.ok);
  CAF_CHECK(has(out.error, "postbox-no-such-program"));
  CAF_CHECK(no_children_left());
}

CAF_TEST(exec stdin is empty) {
  auto out = run("exec", R"({"argv": ["/bin/sh", "-c", "cat; printf '{}'"], "timeout": "2s"})",
                 "/dev/null");
  CAF_CHECK(out.ok);
  CAF_CHECK_EQUAL(out.result_json, "{}");
}

CAF_TEST(one exec processor serves several threads) {
  auto p = make("exec", R"({"argv": ["/bin/sh", "-c", "printf '{\"name\": \"%s\"}' \"$0\"",
                           "{name}"]})");
  std::atomic<int> good{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t)
    threads.emplace_back([&, t] {
      for (int i = 0; i < 5; ++i) {
        const std::string name = "f" + std::to_string(t) + "-" + std::to_string(i);
        auto out = p->process({name, "/dev/null", name});
        if (out.ok && out.result_json == R"({"name":")" + name + R"("})") ++good;
      }
    });
  for (auto& th : threads) th.join();
  CAF_CHECK_EQUAL(good.load(), 40);
  CAF_CHECK(no_children_left());
}

CAF_TEST(chaos fails matching names and passes others) {
  auto p = make("chaos", R"({"sleep_ms": 20, "fail_on": "*.fail", "abort_on": "*.boom"})");
  auto start = std::chrono::steady_clock::now();
  auto out = p->process({"k", "/dev/null", "report.fail"});
  CAF_CHECK_GREATER_OR_EQUAL(std::chrono::steady_clock::now() - start,
                             std::chrono::milliseconds(20));
  CAF_CHECK(!out.ok);
  CAF_CHECK_EQUAL(out.error, "chaos: fail_on matched report.fail");
  out = p->process({"k", "/dev/null", "report.txt"});
  CAF_REQUIRE(out.ok);
  auto r = result_of(out);
  CAF_CHECK_EQUAL(json::value_to<std::string>(r["chaos"]), "ok");
  CAF_CHECK_EQUAL(json::value_to<std::string>(r["name"]), "report.txt");
}

CAF_TEST(chaos abort_on aborts the process) {
  auto p = make("chaos", R"({"abort_on": "*.boom"})");
  std::fflush(nullptr);
  pid_t pid = ::fork();
  CAF_REQUIRE(pid >= 0);
  if (pid == 0) {
    rlimit no_core{0, 0};
    ::setrlimit(RLIMIT_CORE, &no_core);
    p->process({"k", "/dev/null", "fine.txt"});
    p->process({"k", "/dev/null", "x.boom"});
    ::_exit(0);
  }
  int status = 0;
  pid_t r;
  do {
    r = ::waitpid(pid, &status, 0);
  } while (r < 0 && errno == EINTR);
  CAF_REQUIRE_EQUAL(r, pid);
  CAF_CHECK(WIFSIGNALED(status));
  CAF_CHECK_EQUAL(WTERMSIG(status), SIGABRT);
  CAF_CHECK(no_children_left());
}

CAF_TEST(unknown options are errors naming the key) {
  for (const char* name : {"checksum", "wordcount", "exec", "chaos"}) {
    auto err = create_error(name, R"({"bogus_key": 1, "argv": ["/bin/true"]})");
    CAF_MESSAGE(name << ": " << err);
    CAF_CHECK(has(err, "bogus_key"));
  }
  CAF_CHECK(has(create_error("exec", R"({"argv": []})"), "argv"));
  CAF_CHECK(has(create_error("exec", R"({"argv": ["/bin/true", 3]})"), "argv[1]"));
  CAF_CHECK(has(create_error("exec", "{}"), "argv"));
  CAF_CHECK(has(create_error("exec", R"({"argv": ["x"], "timeout": "soon"})"), "timeout"));
  CAF_CHECK(has(create_error("exec", R"({"argv": ["x"], "timeout": 0})"), "timeout"));
  CAF_CHECK(has(create_error("chaos", R"({"sleep_ms": "20"})"), "sleep_ms"));
  CAF_CHECK(has(create_error("chaos", R"({"fail_on": 1})"), "fail_on"));
  CAF_CHECK(has(create_error("checksum", "[1]"), "object"));
  CAF_CHECK(has(create_error("wordcount", "{"), "JSON"));
  CAF_CHECK_EQUAL(create_error("exec", R"({"argv": ["x"], "timeout": "2m"})"), "");
  CAF_CHECK_EQUAL(create_error("chaos", ""), "");
}

CAF_TEST(unknown processor names are errors) {
  auto p = registry.create("nosuch", "{}");
  CAF_REQUIRE(!p);
  CAF_CHECK(has(describe(p.error()), "nosuch"));
  CAF_CHECK(!registry.contains("nosuch"));
  CAF_CHECK_EQUAL(registry.names(),
                  (std::set<std::string>{"chaos", "checksum", "exec", "wordcount"}));
}

CAF_TEST(user registered processors are created and run) {
  registry.add("shout",
               [](const std::string& options) -> caf::expected<std::unique_ptr<processor>> {
                 json::error_code ec;
                 json::value v = json::parse(options, ec);
                 const json::object* o = v.if_object();
                 if (ec || !o)
                   return make_error(errc::invalid_argument, "shout: options must be an object");
                 std::string suffix = "!";
                 if (auto s = o->if_contains("suffix"); s && s->is_string())
                   suffix = std::string(s->get_string());
                 return std::unique_ptr<processor>(new shout_processor(suffix));
               });
  CAF_CHECK(registry.contains("shout"));
  CAF_CHECK_EQUAL(registry.names().size(), 5u);
  auto out = make("shout", R"({"suffix": "?!"})")->process({"k", "/dev/null", "hey"});
  CAF_REQUIRE(out.ok);
  CAF_CHECK_EQUAL(json::value_to<std::string>(result_of(out)["shout"]), "hey?!");
  // An empty options text reaches user factories as "{}".
  CAF_CHECK(make("shout", "")->process({"k", "/dev/null", "a"}).ok);
  registry.add("broken", [](const std::string&) -> caf::expected<std::unique_ptr<processor>> {
    throw std::runtime_error("kaput");
  });
  CAF_CHECK(has(create_error("broken", "{}"), "kaput"));
}

CAF_TEST_FIXTURE_SCOPE_END()

// greeter: a durable actor of one's own. A `greet_all` message fans out one `greet`
// per name; when every greeting has ended, `greetings_done` records them in the
// project's own table (schema.sql), in the transaction that acks it.
#include <boost/json.hpp>
#include <postbox/postbox.hpp>
#include <string>
#include <vector>

struct greet_all {
  std::string batch;
  std::vector<std::string> names;
};
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, greet_all& x) {
  return f(caf::meta::type_name("greet_all"), postbox::field("batch", x.batch),
           postbox::field("names", x.names));
}

struct greet {
  std::string name;
};
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, greet& x) {
  return f(caf::meta::type_name("greet"), postbox::field("name", x.name));
}

/// The fan-out's callback: `results` (one per child, in order) and `group` are
/// added by postbox when the last child ends.
struct greetings_done {
  std::string batch;
  std::string group;
  postbox::json_text results;
};
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, greetings_done& x) {
  return f(caf::meta::type_name("greetings_done"), postbox::field("batch", x.batch),
           postbox::field("group", x.group), postbox::field("results", x.results));
}

postbox::outcome start(postbox::context& ctx, const greet_all& all) {
  if (all.batch.empty()) return postbox::outcome::reject("greet_all without a batch");
  std::vector<postbox::message_out> children;
  for (const auto& name : all.names)
    children.push_back(postbox::message_out::of("greeter", greet{name}));
  ctx.fan_out(std::move(children),
              postbox::message_out::of("greeter", greetings_done{all.batch, "", {}}));
  return {};
}

postbox::outcome say_hello(postbox::context&, const greet& g) {
  if (g.name.empty()) return postbox::outcome::reject("greet without a name");
  return postbox::outcome::ok(postbox::json_text{
      boost::json::serialize(boost::json::object{{"greeting", "hello, " + g.name}})});
}

postbox::outcome record(postbox::context& ctx, const greetings_done& done) {
  boost::json::error_code ec;
  auto results = boost::json::parse(done.results.text, ec);
  if (ec || !results.is_array()) return postbox::outcome::reject("greetings_done without results");
  ctx.execute(
      "INSERT INTO greetings (batch, group_id, children, results) VALUES ($1, $2, $3::int, "
      "$4::jsonb)",
      {done.batch, done.group, std::to_string(results.as_array().size()), done.results.text});
  return {};
}

int main(int argc, char** argv) {
  postbox::registry registry;
  registry.on<greet_all>("greeter", start)
      .on<greet>("greeter", say_hello)
      .on<greetings_done>("greeter", record);
  return postbox::node_main(argc, argv, registry);
}

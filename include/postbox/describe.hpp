// One description per message type gives both its CAF `inspect` and its JSON form.
//
// A user writes the CAF 0.17 `inspect` of a plain struct once, naming each member
// with postbox::field:
//
//   struct tool_call {
//     std::string tool;
//     std::vector<std::string> args;
//     int32_t budget = 0;
//   };
//   template <class Inspector>
//   typename Inspector::result_type inspect(Inspector& f, tool_call& x) {
//     return f(caf::meta::type_name("tool_call"), postbox::field("tool", x.tool),
//              postbox::field("args", x.args), postbox::field("budget", x.budget));
//   }
//
// CAF's serializers see the members (a field is transparent to them); postbox's
// JSON writer and reader below are two more inspectors that also see the names.
// The type name is the mailbox `type` column. A member without a name is a compile
// error in the JSON inspectors, never a silently dropped value.
//
// JSON mapping: std::string <-> string, bool <-> true/false, integers <-> numbers
// (range-checked), double <-> number, std::vector<T> <-> array, std::map<std::string, T>
// <-> object, a described struct <-> object, json_text <-> any JSON value (kept as
// text). A member missing from the JSON keeps its default; unknown keys are ignored;
// a value of the wrong type is an error naming the field ("field 'args[2]': ...").
#pragma once

#include <boost/json.hpp>
#include <caf/error.hpp>
#include <caf/expected.hpp>
#include <caf/meta/annotation.hpp>
#include <caf/meta/type_name.hpp>
#include <cmath>
#include <cstdint>
#include <limits>
#include <map>
#include <postbox/error.hpp>
#include <string>
#include <type_traits>
#include <vector>

namespace postbox {

/// A member of a described struct with its JSON name. Transparent to CAF.
template <class T>
struct named_field {
  const char* name;
  T& value;
};

template <class T>
named_field<T> field(const char* name, T& value) {
  return {name, value};
}

template <class Inspector, class T>
typename Inspector::result_type inspect(Inspector& f, named_field<T>& x) {
  return f(x.value);
}

/// Any JSON value, kept as its text (a tool's result, a free-form payload part).
struct json_text {
  std::string text = "null";
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, json_text& x) {
  return f(caf::meta::type_name("json_text"), x.text);
}

inline bool operator==(const json_text& a, const json_text& b) {
  return a.text == b.text;
}

namespace detail {

template <class T>
struct is_named_field : std::false_type {};
template <class T>
struct is_named_field<named_field<T>> : std::true_type {};

template <class T>
struct is_vector : std::false_type {};
template <class T, class A>
struct is_vector<std::vector<T, A>> : std::true_type {};

template <class T>
struct is_string_map : std::false_type {};
template <class T, class C, class A>
struct is_string_map<std::map<std::string, T, C, A>> : std::true_type {};

/// Finds the type name a described struct gives CAF.
class type_name_probe {
 public:
  using result_type = caf::error;
  static constexpr bool reads_state = true;
  static constexpr bool writes_state = false;
  std::string name;

  template <class... Ts>
  caf::error operator()(Ts&&... xs) {
    (take(xs), ...);
    return caf::none;
  }

 private:
  void take(const caf::meta::type_name_t& x) { name = x.value; }
  template <class T>
  void take(const T&) {}
};

}  // namespace detail

/// The name `T`'s description gives it (its mailbox `type`).
template <class T>
std::string type_name_of() {
  T x{};
  detail::type_name_probe probe;
  inspect(probe, x);
  return probe.name;
}

/// Writes a described struct as a JSON object.
class json_writer {
 public:
  using result_type = caf::error;
  static constexpr bool reads_state = true;
  static constexpr bool writes_state = false;

  boost::json::object out;

  template <class... Ts>
  caf::error operator()(Ts&&... xs) {
    (put(xs), ...);
    return caf::none;
  }

  template <class T>
  static boost::json::value value_of(const T& x) {
    if constexpr (std::is_same<T, std::string>::value) {
      return boost::json::value(x);
    } else if constexpr (std::is_same<T, bool>::value) {
      return boost::json::value(x);
    } else if constexpr (std::is_integral<T>::value) {
      if constexpr (std::is_signed<T>::value)
        return boost::json::value(static_cast<int64_t>(x));
      else
        return boost::json::value(static_cast<uint64_t>(x));
    } else if constexpr (std::is_floating_point<T>::value) {
      // JSON (and jsonb) has no Infinity or NaN.
      if (!std::isfinite(static_cast<double>(x))) return boost::json::value(nullptr);
      return boost::json::value(static_cast<double>(x));
    } else if constexpr (std::is_same<T, json_text>::value) {
      boost::json::error_code ec;
      auto v = boost::json::parse(x.text, ec);
      // Not JSON: kept as a string, so nothing is lost and the result stays valid JSON.
      return ec ? boost::json::value(x.text) : v;
    } else if constexpr (detail::is_vector<T>::value) {
      boost::json::array a;
      for (const auto& e : x) a.push_back(value_of(e));
      return a;
    } else if constexpr (detail::is_string_map<T>::value) {
      boost::json::object o;
      for (const auto& kv : x) o[kv.first] = value_of(kv.second);
      return o;
    } else {
      json_writer nested;
      inspect(nested, const_cast<T&>(x));
      return std::move(nested.out);
    }
  }

 private:
  void put(const caf::meta::annotation&) {}
  template <class T>
  void put(const named_field<T>& x) {
    out[x.name] = value_of(x.value);
  }
  template <class T, class = std::enable_if_t<!detail::is_named_field<T>::value &&
                                              !std::is_base_of<caf::meta::annotation, T>::value>>
  void put(const T&) {
    static_assert(detail::is_named_field<T>::value,
                  "every member of a postbox message needs a name: postbox::field(\"name\", x.m)");
  }
};

/// Reads a described struct from a JSON object; the first error names its field.
class json_reader {
 public:
  using result_type = caf::error;
  static constexpr bool reads_state = false;
  static constexpr bool writes_state = true;

  explicit json_reader(const boost::json::object& in, std::string path = {})
      : in_(in), path_(std::move(path)) {}

  template <class... Ts>
  caf::error operator()(Ts&&... xs) {
    caf::error err;
    ((err ? void() : take(xs, err)), ...);
    return err;
  }

  template <class T>
  static caf::error read(const boost::json::value& v, T& x, const std::string& path) {
    auto bad = [&](const char* expected) {
      return make_error(errc::decode_failed, "field '" + path + "': expected " + expected);
    };
    if constexpr (std::is_same<T, std::string>::value) {
      if (!v.is_string()) return bad("string");
      x = std::string(v.as_string());
    } else if constexpr (std::is_same<T, bool>::value) {
      if (!v.is_bool()) return bad("true or false");
      x = v.as_bool();
    } else if constexpr (std::is_integral<T>::value) {
      if (v.is_int64()) {
        auto n = v.as_int64();
        if (n < static_cast<int64_t>(std::numeric_limits<T>::min()) ||
            (n > 0 && static_cast<uint64_t>(n) > std::numeric_limits<T>::max()))
          return bad("an integer in range");
        x = static_cast<T>(n);
      } else if (v.is_uint64()) {
        if (v.as_uint64() > static_cast<uint64_t>(std::numeric_limits<T>::max()))
          return bad("an integer in range");
        x = static_cast<T>(v.as_uint64());
      } else if (v.is_double() && std::trunc(v.as_double()) == v.as_double() &&
                 v.as_double() >= static_cast<double>(std::numeric_limits<T>::min()) &&
                 v.as_double() <= static_cast<double>(std::numeric_limits<T>::max())) {
        x = static_cast<T>(v.as_double());  // 3.0, 1e3: what many JSON writers send
      } else {
        return bad("integer");
      }
    } else if constexpr (std::is_floating_point<T>::value) {
      if (!v.is_number()) return bad("number");
      x = static_cast<T>(v.to_number<double>());
    } else if constexpr (std::is_same<T, json_text>::value) {
      x.text = boost::json::serialize(v);
    } else if constexpr (detail::is_vector<T>::value) {
      if (!v.is_array()) return bad("array");
      x.clear();
      size_t i = 0;
      for (const auto& e : v.as_array()) {
        typename T::value_type item{};
        if (auto err = read(e, item, path + "[" + std::to_string(i++) + "]")) return err;
        x.push_back(std::move(item));
      }
    } else if constexpr (detail::is_string_map<T>::value) {
      if (!v.is_object()) return bad("object");
      x.clear();
      for (const auto& kv : v.as_object()) {
        typename T::mapped_type item{};
        auto key = std::string(kv.key());
        if (auto err = read(kv.value(), item, path + "." + key)) return err;
        x.emplace(key, std::move(item));
      }
    } else {
      if (!v.is_object()) return bad("object");
      json_reader nested(v.as_object(), path);
      return inspect(nested, x);
    }
    return caf::none;
  }

 private:
  void take(const caf::meta::annotation&, caf::error&) {}
  template <class T>
  void take(const named_field<T>& x, caf::error& err) {
    auto it = in_.find(x.name);
    if (it == in_.end() || it->value().is_null()) return;  // keeps its default
    err = read(it->value(), x.value, path_.empty() ? x.name : path_ + "." + x.name);
  }
  template <class T, class = std::enable_if_t<!detail::is_named_field<T>::value &&
                                              !std::is_base_of<caf::meta::annotation, T>::value>>
  void take(const T&, caf::error&) {
    static_assert(detail::is_named_field<T>::value,
                  "every member of a postbox message needs a name: postbox::field(\"name\", x.m)");
  }

  const boost::json::object& in_;
  std::string path_;
};

/// The JSON text of a described struct (an object).
template <class T>
std::string encode_json(const T& x) {
  return boost::json::serialize(json_writer::value_of(x));
}

/// Decodes a described struct from JSON text; errors name the field.
template <class T>
caf::expected<T> decode_json(const std::string& text) {
  boost::json::error_code ec;
  auto v = boost::json::parse(text, ec);
  if (ec) return make_error(errc::decode_failed, "body is not JSON: " + ec.message());
  if (!v.is_object()) return make_error(errc::decode_failed, "body is not a JSON object");
  T x{};
  if (auto err = json_reader::read(v, x, "")) return err;
  return x;
}

}  // namespace postbox

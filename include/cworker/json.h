// cw::Json: the JSON value every task argument and result travels as.
//
// A small owning value type (null, bool, 64-bit integer, double, string, array, object). Objects
// keep insertion order, as a Python dict does, so what a task returns is written back in the
// order it was built. Parse() reads Python's json dialect (NaN/Infinity tokens, \uXXXX escapes,
// kombu >= 5.3 {"__type__", "__value__"} markers are left as objects here; the protocol layer
// turns them into plain values). Dump() writes what Python's json.dumps writes: ", " and ": "
// separators, ensure_ascii escapes, Python's float repr.
#pragma once

#include <charconv>
#include <cstdint>
#include <initializer_list>
#include <limits>
#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <system_error>
#include <type_traits>
#include <utility>
#include <variant>
#include <vector>

namespace cw {

/// Thrown by Json::Parse on malformed text and by accessors used on the wrong type.
class JsonError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

/// An integer outside int64_t, kept as its decimal text so it round-trips exactly (Python ints
/// have no size limit; an id above 2**63 must not come back as a float).
struct BigInt {
  std::string digits;  ///< "-?[0-9]+"
  friend bool operator==(const BigInt&, const BigInt&) = default;
};

class Json {
 public:
  enum class Type { kNull, kBool, kInt, kDouble, kString, kArray, kObject, kBigInt };
  using Array = std::vector<Json>;
  /// Insertion-ordered object (Python dict order). Keys are unique when built through Set().
  using Object = std::vector<std::pair<std::string, Json>>;

  Json() = default;  ///< null
  Json(std::nullptr_t) {}
  Json(bool b) : v_(b) {}
  template <class I, std::enable_if_t<std::is_integral_v<I> && !std::is_same_v<I, bool>, int> = 0>
  Json(I i) : v_(static_cast<int64_t>(i)) {}
  Json(double d) : v_(d) {}
  Json(float f) : v_(static_cast<double>(f)) {}
  Json(std::string s) : v_(std::move(s)) {}
  Json(std::string_view s) : v_(std::string(s)) {}
  Json(const char* s) : v_(std::string(s)) {}
  Json(Array a) : v_(std::move(a)) {}
  Json(Object o) : v_(std::move(o)) {}
  Json(BigInt b) : v_(std::move(b)) {}

  /// An array from a brace list: Json::MakeArray({1, "two", nullptr}).
  static Json MakeArray(std::initializer_list<Json> items = {}) { return Json(Array(items)); }
  /// An object from a brace list of pairs: Json::MakeObject({{"a", 1}, {"b", "x"}}).
  static Json MakeObject(std::initializer_list<std::pair<std::string, Json>> items = {});

  /// Parses Python-dialect JSON text. Throws JsonError with the offset on malformed input.
  static Json Parse(std::string_view text);
  /// Serialises as Python's json.dumps(obj) would (ensure_ascii, ", " / ": " separators).
  std::string Dump() const;

  Type type() const { return static_cast<Type>(v_.index()); }
  bool is_null() const { return type() == Type::kNull; }
  bool is_bool() const { return type() == Type::kBool; }
  bool is_int() const { return type() == Type::kInt; }
  bool is_double() const { return type() == Type::kDouble; }
  bool is_bigint() const { return type() == Type::kBigInt; }  ///< an int beyond int64_t
  bool is_number() const { return is_int() || is_double() || is_bigint(); }
  bool is_string() const { return type() == Type::kString; }
  bool is_array() const { return type() == Type::kArray; }
  bool is_object() const { return type() == Type::kObject; }
  /// Python's name for the type ("NoneType", "bool", "int", "float", "str", "list", "dict").
  const char* python_type_name() const;

  // Typed access; each throws JsonError when the value holds another type.
  bool as_bool() const;
  int64_t as_int() const;
  double as_double() const;  ///< ints (big ones too) convert to double
  const BigInt& as_bigint() const;
  const std::string& as_string() const;
  std::string& as_string();  ///< to move a string out of a parsed document
  const Array& as_array() const;
  Array& as_array();
  const Object& as_object() const;
  Object& as_object();

  /// Converts with the FromJson rules of task arguments: As<int64_t>(), As<std::vector<double>>().
  template <class T>
  T As() const;

  /// Object member or nullptr (also nullptr when this is not an object).
  const Json* Find(std::string_view key) const;
  Json* Find(std::string_view key);
  /// Object member; throws JsonError when absent or when this is not an object.
  const Json& At(std::string_view key) const;
  /// Array element; throws JsonError when out of range or when this is not an array.
  const Json& At(size_t index) const;
  const Json& operator[](std::string_view key) const { return At(key); }
  const Json& operator[](size_t index) const { return At(index); }
  /// Number of elements (array) or members (object); 0 otherwise.
  size_t size() const;
  bool empty() const { return size() == 0; }

  /// Sets an object member (replacing an existing key in place) and returns the stored member.
  /// A null value becomes an object first.
  Json& Set(std::string key, Json value);
  /// Appends to an array and returns the appended element. A null value becomes an array first.
  Json& Push(Json value);

  friend bool operator==(const Json& a, const Json& b) { return a.v_ == b.v_; }
  friend bool operator!=(const Json& a, const Json& b) { return !(a == b); }

 private:
  std::variant<std::monostate, bool, int64_t, double, std::string, Array, Object, BigInt> v_;
};

// ----- conversions used for task arguments and return values --------------------------------
// FromJson(const Json&, T*) / ToJson(const T&) are found by ADL, so a user type gets argument
// decoding and result encoding by declaring these two functions in its own namespace.

namespace detail {
[[noreturn]] void ThrowConversion(const Json& j, const char* expected);
}

inline void FromJson(const Json& j, Json* out) { *out = j; }
inline void FromJson(const Json& j, bool* out) {
  if (!j.is_bool()) detail::ThrowConversion(j, "bool");
  *out = j.as_bool();
}
template <class I, std::enable_if_t<std::is_integral_v<I> && !std::is_same_v<I, bool>, int> = 0>
void FromJson(const Json& j, I* out) {
  if constexpr (std::is_unsigned_v<I>) {
    if (j.is_bigint()) {  // above INT64_MAX: may still fit an unsigned 64-bit type
      uint64_t u = 0;
      const std::string& d = j.as_bigint().digits;
      const auto [ptr, ec] = std::from_chars(d.data(), d.data() + d.size(), u);
      if (ec != std::errc() || ptr != d.data() + d.size() || u > std::numeric_limits<I>::max()) {
        detail::ThrowConversion(j, "int in range");
      }
      *out = static_cast<I>(u);
      return;
    }
  }
  if (j.is_bigint()) detail::ThrowConversion(j, "int in range");
  if (!j.is_int()) detail::ThrowConversion(j, "int");
  const int64_t v = j.as_int();
  if constexpr (std::is_unsigned_v<I>) {
    if (v < 0 || static_cast<uint64_t>(v) > std::numeric_limits<I>::max()) {
      detail::ThrowConversion(j, "int in range");
    }
  } else {
    if (v < std::numeric_limits<I>::min() || v > std::numeric_limits<I>::max()) {
      detail::ThrowConversion(j, "int in range");
    }
  }
  *out = static_cast<I>(v);
}
inline void FromJson(const Json& j, double* out) {
  if (!j.is_number()) detail::ThrowConversion(j, "float");
  *out = j.as_double();
}
inline void FromJson(const Json& j, float* out) {
  if (!j.is_number()) detail::ThrowConversion(j, "float");
  *out = static_cast<float>(j.as_double());
}
inline void FromJson(const Json& j, std::string* out) {
  if (!j.is_string()) detail::ThrowConversion(j, "str");
  *out = j.as_string();
}
template <class T>
void FromJson(const Json& j, std::optional<T>* out) {
  if (j.is_null()) {
    out->reset();
    return;
  }
  T v{};
  FromJson(j, &v);
  *out = std::move(v);
}
template <class T>
void FromJson(const Json& j, std::vector<T>* out) {
  if (!j.is_array()) detail::ThrowConversion(j, "list");
  out->clear();
  out->reserve(j.size());
  for (const Json& e : j.as_array()) {
    T v{};
    FromJson(e, &v);
    out->push_back(std::move(v));
  }
}
template <class T>
void FromJson(const Json& j, std::map<std::string, T>* out) {
  if (!j.is_object()) detail::ThrowConversion(j, "dict");
  out->clear();
  for (const auto& [k, e] : j.as_object()) {
    T v{};
    FromJson(e, &v);
    (*out)[k] = std::move(v);
  }
}

inline Json ToJson(const Json& v) { return v; }
inline Json ToJson(bool v) { return Json(v); }
template <class I, std::enable_if_t<std::is_integral_v<I> && !std::is_same_v<I, bool>, int> = 0>
Json ToJson(I v) {
  return Json(v);
}
inline Json ToJson(double v) { return Json(v); }
inline Json ToJson(float v) { return Json(v); }
inline Json ToJson(const std::string& v) { return Json(v); }
inline Json ToJson(std::string_view v) { return Json(v); }
inline Json ToJson(const char* v) { return Json(v); }
template <class T>
Json ToJson(const std::optional<T>& v) {
  return v ? ToJson(*v) : Json();
}
template <class T>
Json ToJson(const std::vector<T>& v) {
  Json::Array a;
  a.reserve(v.size());
  for (const auto& e : v) a.push_back(ToJson(e));
  return Json(std::move(a));
}
template <class T>
Json ToJson(const std::map<std::string, T>& v) {
  Json::Object o;
  o.reserve(v.size());
  for (const auto& [k, e] : v) o.emplace_back(k, ToJson(e));
  return Json(std::move(o));
}

template <class T>
T Json::As() const {
  T v{};
  FromJson(*this, &v);
  return v;
}

}  // namespace cw

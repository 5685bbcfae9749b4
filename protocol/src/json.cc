// cw::Json: accessors, builders and the parser (RapidJSON SAX, Python's json dialect).
#include <cworker/json.h>
#include <rapidjson/error/en.h>
#include <rapidjson/memorystream.h>
#include <rapidjson/reader.h>

#include <charconv>
#include <cstdlib>
#include <limits>
#include <string>
#include <system_error>
#include <unordered_map>

namespace cw {

namespace detail {

void ThrowConversion(const Json& j, const char* expected) {
  throw JsonError(std::string("expected ") + expected + ", got " + j.python_type_name());
}

}  // namespace detail

Json Json::MakeObject(std::initializer_list<std::pair<std::string, Json>> items) {
  Object members;
  members.reserve(items.size());
  Json out(std::move(members));
  for (const auto& [key, value] : items) out.Set(key, value);
  return out;
}

const char* Json::python_type_name() const {
  switch (type()) {
    case Type::kNull:
      return "NoneType";
    case Type::kBool:
      return "bool";
    case Type::kInt:
    case Type::kBigInt:
      return "int";
    case Type::kDouble:
      return "float";
    case Type::kString:
      return "str";
    case Type::kArray:
      return "list";
    case Type::kObject:
      return "dict";
  }
  return "object";
}

bool Json::as_bool() const {
  if (!is_bool()) detail::ThrowConversion(*this, "bool");
  return std::get<bool>(v_);
}

int64_t Json::as_int() const {
  if (!is_int()) detail::ThrowConversion(*this, "int");
  return std::get<int64_t>(v_);
}

double Json::as_double() const {
  if (is_int()) return static_cast<double>(std::get<int64_t>(v_));
  if (is_bigint()) return std::strtod(std::get<BigInt>(v_).digits.c_str(), nullptr);
  if (!is_double()) detail::ThrowConversion(*this, "float");
  return std::get<double>(v_);
}

const BigInt& Json::as_bigint() const {
  if (!is_bigint()) detail::ThrowConversion(*this, "int beyond 64 bits");
  return std::get<BigInt>(v_);
}

const std::string& Json::as_string() const {
  if (!is_string()) detail::ThrowConversion(*this, "str");
  return std::get<std::string>(v_);
}

const Json::Array& Json::as_array() const {
  if (!is_array()) detail::ThrowConversion(*this, "list");
  return std::get<Array>(v_);
}

Json::Array& Json::as_array() {
  if (!is_array()) detail::ThrowConversion(*this, "list");
  return std::get<Array>(v_);
}

const Json::Object& Json::as_object() const {
  if (!is_object()) detail::ThrowConversion(*this, "dict");
  return std::get<Object>(v_);
}

Json::Object& Json::as_object() {
  if (!is_object()) detail::ThrowConversion(*this, "dict");
  return std::get<Object>(v_);
}

const Json* Json::Find(std::string_view key) const {
  if (!is_object()) return nullptr;
  for (const auto& [k, v] : std::get<Object>(v_)) {
    if (k == key) return &v;
  }
  return nullptr;
}

Json* Json::Find(std::string_view key) {
  return const_cast<Json*>(static_cast<const Json*>(this)->Find(key));
}

const Json& Json::At(std::string_view key) const {
  const Object& object = as_object();
  for (const auto& [k, v] : object) {
    if (k == key) return v;
  }
  throw JsonError("key '" + std::string(key) + "' not found");
}

const Json& Json::At(size_t index) const {
  const Array& array = as_array();
  if (index >= array.size()) {
    throw JsonError("index " + std::to_string(index) + " out of range (size " +
                    std::to_string(array.size()) + ")");
  }
  return array[index];
}

size_t Json::size() const {
  if (is_array()) return std::get<Array>(v_).size();
  if (is_object()) return std::get<Object>(v_).size();
  return 0;
}

// Both return the stored value (not *this), so a caller can fill a member it just created:
// `Json& props = doc.Set("properties", Json::Object{}); props.Set("k", 1);`.
Json& Json::Set(std::string key, Json value) {
  if (is_null()) v_ = Object{};
  Object& object = as_object();
  for (auto& [k, v] : object) {
    if (k == key) {
      v = std::move(value);
      return v;
    }
  }
  object.emplace_back(std::move(key), std::move(value));
  return object.back().second;
}

Json& Json::Push(Json value) {
  if (is_null()) v_ = Array{};
  Array& array = as_array();
  array.push_back(std::move(value));
  return array.back();
}

// ----- parsing -----------------------------------------------------------------------------------

namespace {

// Python's json module handles roughly a thousand levels before RecursionError; 512 is plenty
// for real payloads and bounds the recursion of Dump() and of the destructor.
constexpr int kMaxDepth = 512;
constexpr size_t kMaxIntDigits = 4300;

// Python's json.loads keeps the last value of a repeated key at the position of the first.
void DedupeKeys(Json::Object* object) {
  const size_t n = object->size();
  if (n < 2) return;
  // This thread's flags (a parse makes one call per object: no allocation once grown).
  thread_local std::vector<char> dropped;
  dropped.assign(n, 0);
  bool any = false;
  if (n <= 64) {  // pairwise, without allocating: real envelopes have a few dozen keys
    for (size_t i = 1; i < n; ++i) {
      for (size_t j = 0; j < i; ++j) {
        if (!dropped[j] && (*object)[j].first == (*object)[i].first) {
          (*object)[j].second = std::move((*object)[i].second);
          dropped[i] = 1;
          any = true;
          break;
        }
      }
    }
  } else {
    std::unordered_map<std::string_view, size_t> first;
    first.reserve(n);
    for (size_t i = 0; i < n; ++i) {
      auto [it, inserted] = first.emplace((*object)[i].first, i);
      if (!inserted) {
        (*object)[it->second].second = std::move((*object)[i].second);
        dropped[i] = 1;
        any = true;
      }
    }
  }
  if (!any) return;
  size_t out = 0;
  for (size_t i = 0; i < n; ++i) {
    if (dropped[i] != 0) continue;
    if (out != i) (*object)[out] = std::move((*object)[i]);
    ++out;
  }
  object->resize(out);
}

// Numbers arrive as text (kParseNumbersAsStringsFlag) so that ints and doubles follow Python's
// rules exactly: int64 when the literal is integral and fits, else a correctly rounded double.
bool NumberFromText(std::string_view text, Json* out) {
  if (text == "NaN") {
    *out = Json(std::numeric_limits<double>::quiet_NaN());
    return true;
  }
  if (text == "Infinity" || text == "-Infinity") {
    const double inf = std::numeric_limits<double>::infinity();
    *out = Json(text[0] == '-' ? -inf : inf);
    return true;
  }
  // RapidJSON also takes "Inf", "-NaN"...: Python's json does not.
  if (text.find_first_of("NI") != std::string_view::npos) return false;
  const char* first = text.data();
  const char* last = text.data() + text.size();
  if (text.find_first_of(".eE") == std::string_view::npos) {
    int64_t i = 0;
    auto [ptr, ec] = std::from_chars(first, last, i);
    if (ec == std::errc() && ptr == last) {
      *out = Json(i);
      return true;
    }
    // Beyond int64: Python keeps the exact integer, so do we (as text). RapidJSON itself
    // refuses literals beyond double's range (~309 digits); kMaxIntDigits is a second guard.
    if (ec == std::errc::result_out_of_range && text.size() <= kMaxIntDigits) {
      *out = Json(BigInt{std::string(text)});
      return true;
    }
    if (ec == std::errc::result_out_of_range) return false;
  }
  double d = 0.0;
  auto [ptr, ec] = std::from_chars(first, last, d);
  if (ptr != last) return false;
  if (ec == std::errc::result_out_of_range) {
    // Python's float() gives inf for overflow and (signed) 0.0 for underflow.
    const bool negative = text[0] == '-';
    const size_t e = text.find_first_of("eE");
    const bool tiny = e != std::string_view::npos && e + 1 < text.size() && text[e + 1] == '-';
    d = tiny ? 0.0 : std::numeric_limits<double>::infinity();
    if (negative) d = -d;
  } else if (ec != std::errc()) {
    return false;
  }
  *out = Json(d);
  return true;
}

class Builder {
 public:
  bool Null() { return Add(Json()); }
  bool Bool(bool b) { return Add(Json(b)); }
  // Only RawNumber is called with kParseNumbersAsStringsFlag; these satisfy the interface.
  bool Int(int i) { return Add(Json(i)); }
  bool Uint(unsigned u) { return Add(Json(u)); }
  bool Int64(int64_t i) { return Add(Json(i)); }
  bool Uint64(uint64_t u) {
    if (u > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
      return Add(Json(BigInt{std::to_string(u)}));  // as RawNumber would: exact, not a double
    }
    return Add(Json(static_cast<int64_t>(u)));
  }
  bool Double(double d) { return Add(Json(d)); }
  bool RawNumber(const char* str, rapidjson::SizeType length, bool /*copy*/) {
    Json value;
    if (!NumberFromText(std::string_view(str, length), &value)) {
      error_ = "invalid number '" + std::string(str, length) + "'";
      return false;
    }
    return Add(std::move(value));
  }
  bool String(const char* str, rapidjson::SizeType length, bool /*copy*/) {
    return Add(Json(std::string(str, length)));
  }
  bool StartObject() { return Open(true); }
  bool Key(const char* str, rapidjson::SizeType length, bool /*copy*/) {
    stack_.back().key.assign(str, length);
    return true;
  }
  bool EndObject(rapidjson::SizeType /*count*/) { return Close(); }
  bool StartArray() { return Open(false); }
  bool EndArray(rapidjson::SizeType /*count*/) { return Close(); }

  Json TakeRoot() { return std::move(root_); }
  const std::string& error() const { return error_; }

  // Members and elements of the containers still open wait in this thread's scratch vectors
  // (which keep their capacity from one parse to the next); a container is built once, at its
  // exact size, when it closes. So a parse allocates its strings and one block per container,
  // not a vector regrown member by member. A builder left by an error truncates them back.
  Builder() : member_base_(Members().size()), element_base_(Elements().size()) {
    stack_.reserve(16);  // one allocation covers the nesting of any real message
  }
  ~Builder() {
    Members().resize(member_base_);
    Elements().resize(element_base_);
  }
  Builder(const Builder&) = delete;
  Builder& operator=(const Builder&) = delete;

 private:
  struct Frame {
    bool object;
    size_t start;  ///< where its members (or elements) begin in the scratch vector
    std::string key;
  };
  static Json::Object& Members() {
    thread_local Json::Object members;
    return members;
  }
  static Json::Array& Elements() {
    thread_local Json::Array elements;
    return elements;
  }

  bool Open(bool object) {
    if (stack_.size() >= static_cast<size_t>(kMaxDepth)) {
      error_ = "nesting deeper than " + std::to_string(kMaxDepth) + " levels";
      return false;
    }
    stack_.push_back(Frame{object, object ? Members().size() : Elements().size(), {}});
    return true;
  }
  bool Close() {
    const Frame& top = stack_.back();
    Json done;
    if (top.object) {
      Json::Object& members = Members();
      const auto first = members.begin() + static_cast<std::ptrdiff_t>(top.start);
      Json::Object object(std::make_move_iterator(first), std::make_move_iterator(members.end()));
      members.erase(first, members.end());
      DedupeKeys(&object);
      done = Json(std::move(object));
    } else {
      Json::Array& elements = Elements();
      const auto first = elements.begin() + static_cast<std::ptrdiff_t>(top.start);
      Json::Array array(std::make_move_iterator(first), std::make_move_iterator(elements.end()));
      elements.erase(first, elements.end());
      done = Json(std::move(array));
    }
    stack_.pop_back();
    return Add(std::move(done));
  }
  bool Add(Json value) {
    if (stack_.empty()) {
      root_ = std::move(value);
      return true;
    }
    Frame& top = stack_.back();
    if (top.object) {
      Members().emplace_back(std::move(top.key), std::move(value));
      top.key.clear();
    } else {
      Elements().push_back(std::move(value));
    }
    return true;
  }

  std::vector<Frame> stack_;
  Json root_;
  std::string error_;
  size_t member_base_;
  size_t element_base_;
};

bool IsJsonSpace(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

}  // namespace

Json Json::Parse(std::string_view text) {
  // Iterative parsing keeps RapidJSON itself off the call stack for hostile nesting; the
  // builder refuses depth > kMaxDepth. StopWhenDone + our own tail check makes an embedded
  // NUL after the document an error instead of an end of input.
  constexpr unsigned kFlags = rapidjson::kParseNanAndInfFlag | rapidjson::kParseFullPrecisionFlag |
                              rapidjson::kParseNumbersAsStringsFlag |
                              rapidjson::kParseValidateEncodingFlag |
                              rapidjson::kParseIterativeFlag | rapidjson::kParseStopWhenDoneFlag;
  rapidjson::MemoryStream stream(text.data(), text.size());
  thread_local rapidjson::Reader reader;  // keeps its parse stack's capacity between parses
  Builder builder;
  const rapidjson::ParseResult result = reader.Parse<kFlags>(stream, builder);
  if (result.IsError()) {
    std::string why =
        builder.error().empty() ? rapidjson::GetParseError_En(result.Code()) : builder.error();
    throw JsonError("invalid JSON at offset " + std::to_string(result.Offset()) + ": " + why);
  }
  size_t pos = stream.Tell();
  while (pos < text.size() && IsJsonSpace(text[pos])) ++pos;
  if (pos != text.size()) {
    throw JsonError("invalid JSON at offset " + std::to_string(pos) + ": extra data");
  }
  return builder.TakeRoot();
}

}  // namespace cw

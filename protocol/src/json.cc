// cw::Json: accessors, builders and the parser (RapidJSON SAX, Python's json dialect).
#include <cworker/json.h>
// SSE2 (every x86-64 has it) lets RapidJSON scan strings and whitespace 16 bytes at a time. Its
// aligned 16-byte loads may read past the terminating NUL: the in-situ buffer below is padded
// for them. Only this file includes RapidJSON, so the macro is the same for every use of it.
#if defined(__SSE2__) && !defined(RAPIDJSON_SSE2)
#define RAPIDJSON_SSE2
#endif
#include <rapidjson/error/en.h>
#include <rapidjson/memorystream.h>
#include <rapidjson/reader.h>

#include <charconv>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <string>
#include <system_error>
#include <unordered_map>
#include <vector>

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

std::string& Json::as_string() {
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
// `dropped` is scratch space for flags, kept by the caller (no allocation once grown).
void DedupeKeys(Json::Object* object, std::vector<char>& dropped) {
  const size_t n = object->size();
  if (n < 2) return;
  dropped.assign(n, 0);
  bool any = false;
  if (n <= 64) {  // pairwise, without allocating: real envelopes have a few dozen keys
    // A key is compared with the earlier ones only when one of them had the same (length, last
    // byte) signature: distinct keys, the usual case, are rarely compared at all.
    const auto signature = [](const std::string& key) {
      const unsigned last = key.empty() ? 0U : static_cast<unsigned char>(key.back());
      return uint64_t{1} << ((key.size() * 7 + last) & 63);
    };
    uint64_t seen = signature((*object)[0].first);
    for (size_t i = 1; i < n; ++i) {
      const uint64_t bit = signature((*object)[i].first);
      const bool maybe_repeated = (seen & bit) != 0;
      seen |= bit;
      if (!maybe_repeated) continue;
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

// GCC 12 reports a moved-from std::variant as "maybe uninitialized" once the scratch vectors
// are reached through references (a known false positive of -Wmaybe-uninitialized with
// std::variant, GCC bug 80635); the builder only ever moves fully constructed values.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
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
  Builder()
      : members_(Members()),
        elements_(Elements()),
        dropped_(Dropped()),
        member_base_(members_.size()),
        element_base_(elements_.size()) {
    stack_.reserve(16);  // one allocation covers the nesting of any real message
  }
  ~Builder() {
    members_.resize(member_base_);
    elements_.resize(element_base_);
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
  static std::vector<char>& Dropped() {
    thread_local std::vector<char> dropped;
    return dropped;
  }

  bool Open(bool object) {
    if (stack_.size() >= static_cast<size_t>(kMaxDepth)) {
      error_ = "nesting deeper than " + std::to_string(kMaxDepth) + " levels";
      return false;
    }
    stack_.push_back(Frame{object, object ? members_.size() : elements_.size(), {}});
    return true;
  }
  bool Close() {
    const Frame& top = stack_.back();
    Json done;
    if (top.object) {
      Json::Object& members = members_;
      const auto first = members.begin() + static_cast<std::ptrdiff_t>(top.start);
      Json::Object object(std::make_move_iterator(first), std::make_move_iterator(members.end()));
      members.erase(first, members.end());
      DedupeKeys(&object, dropped_);
      done = Json(std::move(object));
    } else {
      Json::Array& elements = elements_;
      const auto first = elements.begin() + static_cast<std::ptrdiff_t>(top.start);
      Json::Array array(std::make_move_iterator(first), std::make_move_iterator(elements.end()));
      elements.erase(first, elements.end());
      done = Json(std::move(array));
    }
    stack_.pop_back();
    return Add(std::move(done));
  }
  bool Add(Json&& value) {
    if (stack_.empty()) {
      root_ = std::move(value);
      return true;
    }
    Frame& top = stack_.back();
    if (top.object) {
      members_.emplace_back(std::move(top.key), std::move(value));
      top.key.clear();
    } else {
      elements_.push_back(std::move(value));
    }
    return true;
  }

  std::vector<Frame> stack_;
  Json root_;
  std::string error_;
  // This thread's scratch vectors, looked up once: a thread_local in a shared library costs a
  // __tls_get_addr call per access, which was 6% of a parse when done per value.
  Json::Object& members_;
  Json::Array& elements_;
  std::vector<char>& dropped_;
  size_t member_base_;
  size_t element_base_;
};
#pragma GCC diagnostic pop

bool IsJsonSpace(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

bool IsAscii(std::string_view text) {
  // Eight bytes at a time: ORing the words keeps any high bit that was set.
  uint64_t high = 0;
  size_t i = 0;
  for (; i + 8 <= text.size(); i += 8) {
    uint64_t word = 0;
    std::memcpy(&word, text.data() + i, sizeof(word));
    high |= word;
  }
  for (; i < text.size(); ++i) high |= static_cast<unsigned char>(text[i]);
  return (high & 0x8080808080808080ULL) == 0;
}

// This thread's reader, which keeps its parse stack's capacity between parses. Out of line so
// that the parse loop holds a plain reference: used directly, the thread_local's address was
// looked up again (__tls_get_addr) at every value.
[[gnu::noinline]] rapidjson::Reader& ThreadReader() {
  thread_local rapidjson::Reader reader;
  return reader;
}

// Iterative parsing keeps RapidJSON itself off the call stack for hostile nesting; the builder
// refuses depth > kMaxDepth. StopWhenDone + the tail check makes anything after the document,
// an embedded NUL included, an error instead of an end of input.
template <unsigned kStreamFlags, typename Stream>
Json ParseStream(Stream& stream, std::string_view text) {
  constexpr unsigned kFlags = rapidjson::kParseNanAndInfFlag |
                              rapidjson::kParseFullPrecisionFlag |
                              rapidjson::kParseNumbersAsStringsFlag |
                              rapidjson::kParseIterativeFlag | rapidjson::kParseStopWhenDoneFlag;
  Builder builder;
  const rapidjson::ParseResult result =
      ThreadReader().Parse<kFlags | kStreamFlags>(stream, builder);
  if (result.IsError()) {
    std::string why =
        builder.error().empty() ? rapidjson::GetParseError_En(result.Code()) : builder.error();
    throw JsonError("invalid JSON at offset " + std::to_string(result.Offset()) + ": " + why);
  }
  // Only whitespace may follow the document (an embedded NUL ends RapidJSON's input, not ours).
  size_t pos = stream.Tell();
  while (pos < text.size() && IsJsonSpace(text[pos])) ++pos;
  if (pos != text.size()) {
    throw JsonError("invalid JSON at offset " + std::to_string(pos) + ": extra data");
  }
  return builder.TakeRoot();
}

// ASCII text (all that Python's json.dumps writes with ensure_ascii, kombu's default) is valid
// UTF-8 as it stands. It is copied into this thread's scratch buffer and parsed there in situ:
// strings are unescaped in place and scanned 16 bytes at a time, instead of being copied onto
// RapidJSON's stack one character at a time (that, and the UTF-8 validation, were most of a
// message's parse).
constexpr size_t kSimdPadding = 16;
constexpr size_t kKeptBufferBytes = size_t{1} << 20;  // a larger message's buffer is not kept

Json ParseAsciiInSitu(std::string_view text) {
  thread_local std::vector<char> kept;
  std::vector<char> own;
  std::vector<char>& buffer = text.size() <= kKeptBufferBytes ? kept : own;
  buffer.resize(text.size() + kSimdPadding);
  std::memcpy(buffer.data(), text.data(), text.size());
  std::memset(buffer.data() + text.size(), 0, kSimdPadding);  // the NUL that ends the input
  rapidjson::InsituStringStream stream(buffer.data());
  return ParseStream<rapidjson::kParseInsituFlag>(stream, text);
}

// Text with non-ASCII bytes: read where it lies, its UTF-8 validated byte by byte.
Json ParseValidatingUtf8(std::string_view text) {
  rapidjson::MemoryStream stream(text.data(), text.size());
  return ParseStream<rapidjson::kParseValidateEncodingFlag>(stream, text);
}

}  // namespace

Json Json::Parse(std::string_view text) {
  return IsAscii(text) ? ParseAsciiInSitu(text) : ParseValidatingUtf8(text);
}

}  // namespace cw

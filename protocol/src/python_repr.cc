// Python 3 repr() of decoded JSON values.
#include "cw/protocol/python_repr.h"

#include <cmath>
#include <string>

#include "text_util.h"

namespace cw::protocol {

namespace {

using internal::AppendHex;
using internal::AppendUtf8;
using internal::NextCodePoint;

// str.isprintable() for non-ASCII code points, from the Unicode categories Python treats as
// unprintable (Cc, Cf, Cs, Co, Zl, Zp and Zs other than the space). Unassigned code points are
// not tracked (that needs the whole Unicode database) and count as printable.
bool IsPrintable(int32_t cp) {
  struct Range {
    int32_t lo, hi;
  };
  static constexpr Range kUnprintable[] = {
      {0x0080, 0x00A0},   {0x00AD, 0x00AD},   {0x0600, 0x0605},    {0x061C, 0x061C},
      {0x06DD, 0x06DD},   {0x070F, 0x070F},   {0x0890, 0x0891},    {0x08E2, 0x08E2},
      {0x1680, 0x1680},   {0x180E, 0x180E},   {0x2000, 0x200F},    {0x2028, 0x202F},
      {0x205F, 0x2064},   {0x2066, 0x206F},   {0x3000, 0x3000},    {0xD800, 0xF8FF},
      {0xFEFF, 0xFEFF},   {0xFFF9, 0xFFFB},   {0xFFFE, 0xFFFF},    {0x110BD, 0x110BD},
      {0x110CD, 0x110CD}, {0x13430, 0x1343F}, {0x1BCA0, 0x1BCA3},  {0x1D173, 0x1D17A},
      {0xE0001, 0xE0001}, {0xE0020, 0xE007F}, {0xF0000, 0x10FFFF},
  };
  for (const Range& r : kUnprintable) {
    if (cp < r.lo) return true;
    if (cp <= r.hi) return false;
  }
  return true;
}

void AppendStrRepr(std::string_view s, std::string* out) {
  const bool has_single = s.find('\'') != std::string_view::npos;
  const bool has_double = s.find('"') != std::string_view::npos;
  const char quote = (has_single && !has_double) ? '"' : '\'';
  out->push_back(quote);
  size_t pos = 0;
  while (pos < s.size()) {
    int32_t cp = NextCodePoint(s, &pos);
    if (cp < 0) cp = 0xFFFD;  // a Python str cannot hold undecodable bytes
    if (cp == quote || cp == '\\') {
      out->push_back('\\');
      out->push_back(static_cast<char>(cp));
    } else if (cp == '\n') {
      out->append("\\n");
    } else if (cp == '\r') {
      out->append("\\r");
    } else if (cp == '\t') {
      out->append("\\t");
    } else if (cp < 0x20 || cp == 0x7F) {
      out->append("\\x");
      AppendHex(static_cast<uint32_t>(cp), 2, out);
    } else if (cp < 0x7F || IsPrintable(cp)) {
      AppendUtf8(cp, out);
    } else if (cp < 0x100) {
      out->append("\\x");
      AppendHex(static_cast<uint32_t>(cp), 2, out);
    } else if (cp < 0x10000) {
      out->append("\\u");
      AppendHex(static_cast<uint32_t>(cp), 4, out);
    } else {
      out->append("\\U");
      AppendHex(static_cast<uint32_t>(cp), 8, out);
    }
  }
  out->push_back(quote);
}

void AppendRepr(const Json& v, std::string* out) {
  switch (v.type()) {
    case Json::Type::kNull:
      out->append("None");
      return;
    case Json::Type::kBool:
      out->append(v.as_bool() ? "True" : "False");
      return;
    case Json::Type::kInt:
      out->append(std::to_string(v.as_int()));
      return;
    case Json::Type::kBigInt:
      out->append(v.as_bigint().digits);
      return;
    case Json::Type::kDouble:
      out->append(PyFloatRepr(v.as_double()));
      return;
    case Json::Type::kString:
      AppendStrRepr(v.as_string(), out);
      return;
    case Json::Type::kArray: {
      out->push_back('[');
      bool first = true;
      for (const Json& e : v.as_array()) {
        if (!first) out->append(", ");
        first = false;
        AppendRepr(e, out);
      }
      out->push_back(']');
      return;
    }
    case Json::Type::kObject: {
      out->push_back('{');
      bool first = true;
      for (const auto& [key, value] : v.as_object()) {
        if (!first) out->append(", ");
        first = false;
        AppendStrRepr(key, out);
        out->append(": ");
        AppendRepr(value, out);
      }
      out->push_back('}');
      return;
    }
  }
}

}  // namespace

std::string PyRepr(const Json& value) {
  std::string out;
  AppendRepr(value, &out);
  return out;
}

namespace {

// Count characters, not bytes, as Python does, and never cut inside a UTF-8 sequence.
std::string TruncateChars(std::string text, size_t max_len) {
  size_t pos = 0;
  size_t chars = 0;
  while (pos < text.size() && chars < max_len) {
    NextCodePoint(text, &pos);
    ++chars;
  }
  if (pos >= text.size()) return text;
  text.resize(pos);
  text.append("...");
  return text;
}

}  // namespace

std::string PyReprTruncated(const Json& value, size_t max_len) {
  return TruncateChars(PyRepr(value), max_len);
}

std::string PyTupleRepr(const Json& args) {
  std::string out = "(";
  for (size_t i = 0; i < args.size(); ++i) {
    if (i > 0) out += ", ";
    out += PyRepr(args.At(i));
  }
  out += args.size() == 1 ? ",)" : ")";
  return out;
}

std::string PyTupleReprTruncated(const Json& args, size_t max_len) {
  return TruncateChars(PyTupleRepr(args), max_len);
}

std::string PyFloatRepr(double value) {
  if (std::isnan(value)) return "nan";
  if (std::isinf(value)) return value < 0 ? "-inf" : "inf";
  std::string out;
  internal::AppendPythonFloat(value, &out);
  return out;
}

std::string PyStrRepr(std::string_view utf8) {
  std::string out;
  AppendStrRepr(utf8, &out);
  return out;
}

std::string PyExceptionRepr(std::string_view exc_type, const Json& exc_args) {
  // BaseException.__repr__ prints the class __name__ (the last part of a dotted qualname),
  // then repr(args[0]) for one argument or the args tuple otherwise.
  const size_t dot = exc_type.rfind('.');
  std::string out(dot == std::string_view::npos ? exc_type : exc_type.substr(dot + 1));
  out.push_back('(');
  if (!exc_args.is_array()) {
    AppendRepr(exc_args, &out);  // older Celery stored a bare message instead of a list
  } else {
    bool first = true;
    for (const Json& arg : exc_args.as_array()) {
      if (!first) out.append(", ");
      first = false;
      AppendRepr(arg, &out);
    }
  }
  out.push_back(')');
  return out;
}

}  // namespace cw::protocol

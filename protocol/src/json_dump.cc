// Json::Dump(): the exact text of Python's json.dumps(obj) with default options.
//
// Byte equality with Python matters where a text is an identity (the chord zset member) and
// makes MONITOR traces comparable; the fixture tests round-trip captured Celery traffic.
#include <cworker/json.h>

#include <charconv>
#include <cmath>
#include <string>
#include <system_error>

#include "text_util.h"

namespace cw {

namespace protocol::internal {

void AppendPythonFloat(double value, std::string* out) {
  // Shortest round-trip digits from to_chars, laid out the way Python's float.__repr__ does:
  // fixed notation while the decimal exponent is in [-4, 16), scientific otherwise.
  char buf[64];
  const auto [end, ec] =
      std::to_chars(buf, buf + sizeof(buf), value, std::chars_format::scientific);
  if (ec != std::errc()) return;  // cannot happen for a finite double in 64 bytes
  const std::string_view text(buf, static_cast<size_t>(end - buf));
  size_t i = 0;
  if (text[i] == '-') {
    out->push_back('-');
    ++i;
  }
  std::string digits;
  while (i < text.size() && text[i] != 'e') {
    if (text[i] != '.') digits.push_back(text[i]);
    ++i;
  }
  int exponent = 0;
  std::from_chars(text.data() + i + 1 + (text[i + 1] == '+' ? 1 : 0), text.data() + text.size(),
                  exponent);
  const int point = exponent + 1;  // digits before the decimal point
  const int n = static_cast<int>(digits.size());
  if (exponent >= -4 && exponent < 16) {
    if (point <= 0) {
      out->append("0.");
      out->append(static_cast<size_t>(-point), '0');
      out->append(digits);
    } else if (point >= n) {
      out->append(digits);
      out->append(static_cast<size_t>(point - n), '0');
      out->append(".0");
    } else {
      out->append(digits, 0, static_cast<size_t>(point));
      out->push_back('.');
      out->append(digits, static_cast<size_t>(point));
    }
    return;
  }
  out->push_back(digits[0]);
  if (n > 1) {
    out->push_back('.');
    out->append(digits, 1);
  }
  out->push_back('e');
  out->push_back(exponent < 0 ? '-' : '+');
  const int magnitude = exponent < 0 ? -exponent : exponent;
  if (magnitude < 10) out->push_back('0');
  out->append(std::to_string(magnitude));
}

}  // namespace protocol::internal

namespace protocol::internal {
namespace {

void AppendEscape16(uint32_t unit, std::string* out) {
  out->append("\\u");
  AppendHex(unit, 4, out);
}

// json.dumps with ensure_ascii=True: printable ASCII as is, short escapes for the usual
// controls, \uXXXX (lowercase) for everything else, surrogate pairs above the BMP. Python's
// str cannot hold invalid UTF-8; we write U+FFFD for each byte that does not decode.
}  // namespace

void AppendString(std::string_view s, std::string* out) {
  out->push_back('"');
  size_t pos = 0;
  while (pos < s.size()) {
    const char c = s[pos];
    if (c >= 0x20 && c <= 0x7E) {
      if (c == '"' || c == '\\') out->push_back('\\');
      out->push_back(c);
      ++pos;
      continue;
    }
    switch (c) {
      case '\n':
        out->append("\\n");
        ++pos;
        continue;
      case '\r':
        out->append("\\r");
        ++pos;
        continue;
      case '\t':
        out->append("\\t");
        ++pos;
        continue;
      case '\b':
        out->append("\\b");
        ++pos;
        continue;
      case '\f':
        out->append("\\f");
        ++pos;
        continue;
      default:
        break;
    }
    const int32_t cp = NextCodePoint(s, &pos);
    if (cp < 0) {
      AppendEscape16(0xFFFD, out);
    } else if (cp < 0x10000) {
      AppendEscape16(static_cast<uint32_t>(cp), out);
    } else {
      const uint32_t v = static_cast<uint32_t>(cp) - 0x10000;
      AppendEscape16(0xD800 | (v >> 10), out);
      AppendEscape16(0xDC00 | (v & 0x3FF), out);
    }
  }
  out->push_back('"');
}

void AppendValue(const Json& j, std::string* out) {
  switch (j.type()) {
    case Json::Type::kNull:
      out->append("null");
      return;
    case Json::Type::kBool:
      out->append(j.as_bool() ? "true" : "false");
      return;
    case Json::Type::kInt:
      out->append(std::to_string(j.as_int()));
      return;
    case Json::Type::kBigInt:
      out->append(j.as_bigint().digits);
      return;
    case Json::Type::kDouble: {
      const double d = j.as_double();
      if (std::isnan(d)) {
        out->append("NaN");
      } else if (std::isinf(d)) {
        out->append(d < 0 ? "-Infinity" : "Infinity");
      } else {
        protocol::internal::AppendPythonFloat(d, out);
      }
      return;
    }
    case Json::Type::kString:
      AppendString(j.as_string(), out);
      return;
    case Json::Type::kArray: {
      out->push_back('[');
      bool first = true;
      for (const Json& e : j.as_array()) {
        if (!first) out->append(", ");
        first = false;
        AppendValue(e, out);
      }
      out->push_back(']');
      return;
    }
    case Json::Type::kObject: {
      out->push_back('{');
      bool first = true;
      for (const auto& [key, value] : j.as_object()) {
        if (!first) out->append(", ");
        first = false;
        AppendString(key, out);
        out->append(": ");
        AppendValue(value, out);
      }
      out->push_back('}');
      return;
    }
  }
}

}  // namespace protocol::internal

std::string Json::Dump() const {
  std::string out;
  protocol::internal::AppendValue(*this, &out);
  return out;
}

}  // namespace cw

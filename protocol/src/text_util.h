// Helpers shared by the serialisers of this library (not part of the public API).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include <cworker/json.h>

namespace cw::protocol::internal {

/// Appends `s` as json.dumps writes a str (quoted, ensure_ascii escapes).
void AppendString(std::string_view s, std::string* out);
/// Appends json.dumps(j).
void AppendValue(const Json& j, std::string* out);

/// Appends Python's repr() of a finite double ("0.1", "1e-05", "2.0", "1.5e+16", "-0.0").
void AppendPythonFloat(double value, std::string* out);

/// Decodes one UTF-8 sequence at `*pos` and advances past it. Returns the code point, or -1
/// for a byte that does not start a valid sequence (then `*pos` advances by one byte only).
/// Surrogates encoded in three bytes (how a lone "\udc00" escape is stored) are returned as
/// code points so that they print back as Python prints a lone surrogate.
inline int32_t NextCodePoint(std::string_view s, size_t* pos) {
  const auto byte = [&](size_t i) { return static_cast<unsigned char>(s[i]); };
  const size_t i = *pos;
  const unsigned char b0 = byte(i);
  if (b0 < 0x80) {
    *pos = i + 1;
    return b0;
  }
  // Lead byte -> sequence length, payload bits and smallest code point (no overlongs).
  size_t len = 0;
  int32_t cp = 0;
  int32_t min = 0;
  if (b0 >= 0xC2 && b0 <= 0xDF) {
    len = 2;
    cp = b0 & 0x1F;
    min = 0x80;
  } else if (b0 >= 0xE0 && b0 <= 0xEF) {
    len = 3;
    cp = b0 & 0x0F;
    min = 0x800;
  } else if (b0 >= 0xF0 && b0 <= 0xF4) {
    len = 4;
    cp = b0 & 0x07;
    min = 0x10000;
  } else {
    *pos = i + 1;
    return -1;
  }
  if (i + len > s.size()) {
    *pos = i + 1;
    return -1;
  }
  for (size_t k = 1; k < len; ++k) {
    const unsigned char b = byte(i + k);
    if ((b & 0xC0) != 0x80) {
      *pos = i + 1;
      return -1;
    }
    cp = (cp << 6) | (b & 0x3F);
  }
  if (cp < min || cp > 0x10FFFF) {
    *pos = i + 1;
    return -1;
  }
  *pos = i + len;
  return cp;
}

/// Appends `cp` encoded as UTF-8.
inline void AppendUtf8(int32_t cp, std::string* out) {
  const auto u = static_cast<uint32_t>(cp);
  if (u < 0x80) {
    out->push_back(static_cast<char>(u));
  } else if (u < 0x800) {
    out->push_back(static_cast<char>(0xC0 | (u >> 6)));
    out->push_back(static_cast<char>(0x80 | (u & 0x3F)));
  } else if (u < 0x10000) {
    out->push_back(static_cast<char>(0xE0 | (u >> 12)));
    out->push_back(static_cast<char>(0x80 | ((u >> 6) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | (u & 0x3F)));
  } else {
    out->push_back(static_cast<char>(0xF0 | (u >> 18)));
    out->push_back(static_cast<char>(0x80 | ((u >> 12) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | ((u >> 6) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | (u & 0x3F)));
  }
}

/// Appends `value` as `digits` lowercase hex digits.
inline void AppendHex(uint32_t value, int digits, std::string* out) {
  static constexpr char kHex[] = "0123456789abcdef";
  for (int shift = (digits - 1) * 4; shift >= 0; shift -= 4) {
    out->push_back(kHex[(value >> shift) & 0xF]);
  }
}

}  // namespace cw::protocol::internal

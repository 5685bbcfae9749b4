// Standard base64 with '=' padding (kombu's body_encoding "base64").
#include "cw/protocol/base64.h"

#include <array>
#include <cstdint>

namespace cw::protocol {

namespace {

constexpr char kAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

constexpr std::array<int8_t, 256> MakeDecodeTable() {
  std::array<int8_t, 256> table{};
  for (auto& v : table) v = -1;
  for (int i = 0; i < 64; ++i) {
    table[static_cast<unsigned char>(kAlphabet[i])] = static_cast<int8_t>(i);
  }
  return table;
}

constexpr std::array<int8_t, 256> kDecode = MakeDecodeTable();

bool Fail(std::string* out) {
  out->clear();
  return false;
}

bool IsAsciiSpace(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}

}  // namespace

std::string Base64Encode(std::string_view bytes) {
  std::string out;
  out.reserve((bytes.size() + 2) / 3 * 4);
  size_t i = 0;
  const auto at = [&](size_t k) {
    return static_cast<uint32_t>(static_cast<unsigned char>(bytes[k]));
  };
  for (; i + 3 <= bytes.size(); i += 3) {
    const uint32_t v = (at(i) << 16) | (at(i + 1) << 8) | at(i + 2);
    out.push_back(kAlphabet[(v >> 18) & 63]);
    out.push_back(kAlphabet[(v >> 12) & 63]);
    out.push_back(kAlphabet[(v >> 6) & 63]);
    out.push_back(kAlphabet[v & 63]);
  }
  const size_t rest = bytes.size() - i;
  if (rest == 1) {
    const uint32_t v = at(i) << 16;
    out.push_back(kAlphabet[(v >> 18) & 63]);
    out.push_back(kAlphabet[(v >> 12) & 63]);
    out.append("==");
  } else if (rest == 2) {
    const uint32_t v = (at(i) << 16) | (at(i + 1) << 8);
    out.push_back(kAlphabet[(v >> 18) & 63]);
    out.push_back(kAlphabet[(v >> 12) & 63]);
    out.push_back(kAlphabet[(v >> 6) & 63]);
    out.push_back('=');
  }
  return out;
}

bool Base64Decode(std::string_view text, std::string* out) {
  out->clear();
  out->resize(text.size() / 4 * 3);
  // Fast path: whole quads of four plain symbols, as kombu writes a body up to its last quad.
  // The first quad holding anything else (padding, whitespace, a bad byte) goes to the loop
  // below, which starts, as this one leaves it, at a quad boundary.
  char* dst = out->data();
  size_t done = 0;
  for (; done + 4 <= text.size(); done += 4) {
    const auto at = [&](size_t k) { return kDecode[static_cast<unsigned char>(text[done + k])]; };
    const int8_t a = at(0), b = at(1), c = at(2), d = at(3);
    if ((a | b | c | d) < 0) break;
    const uint32_t v = (static_cast<uint32_t>(a) << 18) | (static_cast<uint32_t>(b) << 12) |
                       (static_cast<uint32_t>(c) << 6) | static_cast<uint32_t>(d);
    *dst++ = static_cast<char>((v >> 16) & 0xFF);
    *dst++ = static_cast<char>((v >> 8) & 0xFF);
    *dst++ = static_cast<char>(v & 0xFF);
  }
  out->resize(static_cast<size_t>(dst - out->data()));
  text.remove_prefix(done);
  uint32_t quad[4];
  int filled = 0;   // symbols in the current quad, padding included
  int padding = 0;  // '=' seen so far; only allowed at the end of the last quad
  bool finished = false;
  for (const char c : text) {
    if (IsAsciiSpace(c)) continue;
    if (finished) return Fail(out);  // data after a padded quad
    if (c == '=') {
      // "xx==" or "xxx=": padding only in the third or fourth place of a quad.
      if (filled < 2) return Fail(out);
      ++padding;
      quad[filled++] = 0;
    } else {
      const int8_t v = kDecode[static_cast<unsigned char>(c)];
      if (v < 0 || padding > 0) return Fail(out);
      quad[filled++] = static_cast<uint32_t>(v);
    }
    if (filled < 4) continue;
    const uint32_t v = (quad[0] << 18) | (quad[1] << 12) | (quad[2] << 6) | quad[3];
    out->push_back(static_cast<char>((v >> 16) & 0xFF));
    if (padding < 2) out->push_back(static_cast<char>((v >> 8) & 0xFF));
    if (padding < 1) out->push_back(static_cast<char>(v & 0xFF));
    filled = 0;
    finished = padding > 0;
  }
  if (filled != 0) return Fail(out);
  return true;
}

}  // namespace cw::protocol

// Standard base64 (RFC 4648 alphabet, '=' padding), as kombu's body_encoding "base64".
#pragma once

#include <string>
#include <string_view>

namespace cw::protocol {

std::string Base64Encode(std::string_view bytes);
/// Decodes `text` into `out`. Returns false on a character outside the alphabet or bad
/// padding (ASCII whitespace is skipped, as Python's b64decode does not; kombu never emits it).
bool Base64Decode(std::string_view text, std::string* out);

}  // namespace cw::protocol

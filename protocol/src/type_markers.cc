// kombu >= 5.3 JSON type markers {"__type__": ..., "__value__": ...} back to plain values.
//
// kombu 5.3 started wrapping datetime, date, time, Decimal, UUID and bytes in marker objects
// and unwraps every object whose key set is exactly {"__type__", "__value__"} when loading.
// A cworker task should see what a kombu 5.2 producer would have sent: plain strings.
#include <string>

#include "cw/protocol/base64.h"
#include "cw/protocol/task_message.h"

namespace cw::protocol {

namespace {

bool IsHex(char c) {
  return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

// uuid.UUID(hex=...) accepts the 32 digits with optional braces, "urn:uuid:" and hyphens;
// str() of it is lowercase 8-4-4-4-12.
bool CanonicalUuid(std::string_view hex, std::string* out) {
  if (hex.substr(0, 9) == "urn:uuid:") hex.remove_prefix(9);
  if (hex.size() >= 2 && hex.front() == '{' && hex.back() == '}') {
    hex = hex.substr(1, hex.size() - 2);
  }
  std::string digits;
  for (const char c : hex) {
    if (c == '-') continue;
    if (!IsHex(c)) return false;
    digits.push_back(c >= 'A' && c <= 'F' ? static_cast<char>(c - 'A' + 'a') : c);
  }
  if (digits.size() != 32) return false;
  *out = digits.substr(0, 8) + "-" + digits.substr(8, 4) + "-" + digits.substr(12, 4) + "-" +
         digits.substr(16, 4) + "-" + digits.substr(20);
  return true;
}

// The plain value of a marker, or false when the object is to stay as it is (not a marker,
// unknown type, or a value of the wrong shape).
bool Unwrap(const Json& object, Json* out) {
  if (object.size() != 2) return false;
  const Json* type = object.Find("__type__");
  const Json* value = object.Find("__value__");
  if (type == nullptr || value == nullptr || !type->is_string()) return false;
  const std::string& name = type->as_string();
  if (name == "datetime" || name == "date" || name == "time" || name == "decimal" ||
      name == "bytes") {
    if (!value->is_string()) return false;
    *out = *value;
    return true;
  }
  if (name == "uuid") {
    std::string text;
    if (value->is_string()) {
      text = value->as_string();
    } else {
      const Json* hex = value->Find("hex");
      if (hex == nullptr || !hex->is_string() || !CanonicalUuid(hex->as_string(), &text)) {
        return false;
      }
    }
    *out = Json(std::move(text));
    return true;
  }
  if (name == "base64") {
    std::string bytes;
    if (!value->is_string() || !Base64Decode(value->as_string(), &bytes)) return false;
    *out = Json(std::move(bytes));
    return true;
  }
  return false;
}

}  // namespace

void DecodeTypeMarkers(Json& value) {
  if (value.is_array()) {
    for (Json& e : value.as_array()) DecodeTypeMarkers(e);
    return;
  }
  if (!value.is_object()) return;
  Json plain;
  if (Unwrap(value, &plain)) {
    value = std::move(plain);
    return;
  }
  for (auto& member : value.as_object()) DecodeTypeMarkers(member.second);
}

}  // namespace cw::protocol

#include "util/hostname.h"

#include <unistd.h>

#include <array>

namespace cw::util {

std::string Hostname() {
  std::array<char, 256> buf{};
  if (gethostname(buf.data(), buf.size() - 1) != 0) return "localhost";
  return std::string(buf.data());
}

std::string ExpandNodeName(std::string_view pattern, std::string_view hostname) {
  const size_t dot = hostname.find('.');
  const std::string_view name_part = hostname.substr(0, dot);
  const std::string_view domain_part =
      dot == std::string_view::npos ? std::string_view() : hostname.substr(dot + 1);
  std::string out;
  for (size_t i = 0; i < pattern.size(); ++i) {
    if (pattern[i] != '%' || i + 1 == pattern.size()) {
      out.push_back(pattern[i]);
      continue;
    }
    switch (pattern[++i]) {
      case 'h':
        out.append(hostname);
        break;
      case 'n':
        out.append(name_part);
        break;
      case 'd':
        out.append(domain_part);
        break;
      case '%':
        out.push_back('%');
        break;
      default:
        out.push_back('%');
        out.push_back(pattern[i]);
    }
  }
  // Celery: a node name without '@' is "<name>@<hostname>".
  if (out.find('@') == std::string::npos) out += "@" + std::string(hostname);
  return out;
}

}  // namespace cw::util

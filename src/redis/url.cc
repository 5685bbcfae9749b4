#include "redis/url.h"

#include <charconv>

namespace cw::redis {
namespace {

bool ParseInt(std::string_view text, int* out) {
  if (text.empty()) return false;
  const auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), *out);
  return ec == std::errc() && ptr == text.data() + text.size();
}

// Percent-decoding of the user-info part, so passwords may hold '@' or ':' as %40 / %3A.
std::string Unquote(std::string_view s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%' && i + 2 < s.size()) {
      int v = 0;
      if (std::from_chars(s.data() + i + 1, s.data() + i + 3, v, 16).ec == std::errc()) {
        out.push_back(static_cast<char>(v));
        i += 2;
        continue;
      }
    }
    out.push_back(s[i]);
  }
  return out;
}

}  // namespace

std::optional<Url> Url::Parse(std::string_view text, std::string* error) {
  Url url;
  std::string_view rest;
  bool is_unix = false;
  if (text.starts_with("redis://")) {
    rest = text.substr(8);
  } else if (text.starts_with("unix://")) {
    rest = text.substr(7);
    is_unix = true;
  } else if (text.starts_with("redis+socket://")) {
    rest = text.substr(15);
    is_unix = true;
  } else if (text.starts_with("rediss://")) {
    *error = "TLS (rediss://) is not supported: Debian 12's hiredis 0.14 has no TLS. Run a TLS "
             "tunnel (stunnel) to Redis and give its local end as redis:// "
             "(docs/robustness.md)";
    return std::nullopt;
  } else {
    *error = "unsupported broker URL '" + std::string(text) +
             "' (expected redis://host:port/db or unix:///path.sock)";
    return std::nullopt;
  }
  std::string_view query;
  if (const size_t q = rest.find('?'); q != std::string_view::npos) {
    query = rest.substr(q + 1);
    rest = rest.substr(0, q);
  }
  if (const size_t at = rest.rfind('@'); at != std::string_view::npos) {
    const std::string_view userinfo = rest.substr(0, at);
    rest = rest.substr(at + 1);
    const size_t colon = userinfo.find(':');
    if (colon == std::string_view::npos) {
      url.password = Unquote(userinfo);  // redis://secret@host: redis-py reads it as password
    } else {
      url.username = Unquote(userinfo.substr(0, colon));
      url.password = Unquote(userinfo.substr(colon + 1));
    }
  }
  if (is_unix) {
    url.unix_path = std::string(rest);
    if (url.unix_path.empty()) {
      *error = "unix:// URL without a socket path";
      return std::nullopt;
    }
  } else {
    std::string_view hostport = rest;
    if (const size_t slash = rest.find('/'); slash != std::string_view::npos) {
      hostport = rest.substr(0, slash);
      const std::string_view db = rest.substr(slash + 1);
      if (!db.empty() && !ParseInt(db, &url.db)) {
        *error = "bad database number '" + std::string(db) + "' in '" + std::string(text) + "'";
        return std::nullopt;
      }
    }
    if (const size_t colon = hostport.rfind(':'); colon != std::string_view::npos &&
                                                   hostport.find(']') == std::string_view::npos) {
      if (!ParseInt(hostport.substr(colon + 1), &url.port) || url.port <= 0 || url.port > 65535) {
        *error = "bad port in '" + std::string(text) + "'";
        return std::nullopt;
      }
      hostport = hostport.substr(0, colon);
    }
    if (!hostport.empty()) url.host = std::string(hostport);
  }
  // ?db=N (unix sockets, and accepted for TCP as redis-py does).
  while (!query.empty()) {
    const size_t amp = query.find('&');
    const std::string_view pair = query.substr(0, amp);
    if (pair.starts_with("db=") && !ParseInt(pair.substr(3), &url.db)) {
      *error = "bad db in '" + std::string(text) + "'";
      return std::nullopt;
    }
    query = amp == std::string_view::npos ? std::string_view() : query.substr(amp + 1);
  }
  if (url.db < 0) {
    *error = "negative database number in '" + std::string(text) + "'";
    return std::nullopt;
  }
  return url;
}

std::string Url::ToString(bool mask_password) const {
  std::string auth;
  if (!password.empty() || !username.empty()) {
    auth = username + ":" + (mask_password ? std::string("**") : password) + "@";
  }
  if (!unix_path.empty()) {
    return "unix://" + auth + unix_path + (db != 0 ? "?db=" + std::to_string(db) : "");
  }
  return "redis://" + auth + host + ":" + std::to_string(port) + "/" + std::to_string(db);
}

}  // namespace cw::redis

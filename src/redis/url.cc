#include "redis/url.h"

#include <algorithm>
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
  } else if (text.starts_with("sentinel://")) {
    return ParseSentinel(text, error);
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
    if (pair.starts_with("master_name=")) url.master_name = Unquote(pair.substr(12));
    query = amp == std::string_view::npos ? std::string_view() : query.substr(amp + 1);
  }
  if (url.db < 0) {
    *error = "negative database number in '" + std::string(text) + "'";
    return std::nullopt;
  }
  return url;
}

std::optional<Url> Url::ParseSentinel(std::string_view text, std::string* error) {
  Url url;
  size_t index = 0;
  bool db_given = false;
  while (!text.empty()) {
    const size_t semi = text.find(';');
    std::string_view part = text.substr(0, semi);
    text = semi == std::string_view::npos ? std::string_view() : text.substr(semi + 1);
    if (part.empty()) continue;
    if (!part.starts_with("sentinel://")) {
      *error = "every part of a sentinel URL must be sentinel://host:port, got '" +
               std::string(part) + "'";
      return std::nullopt;
    }
    std::string_view hostpart = part.substr(11);
    hostpart = hostpart.substr(0, std::min(hostpart.find('/'), hostpart.find('?')));
    hostpart = hostpart.substr(hostpart.rfind('@') == std::string_view::npos
                                   ? 0
                                   : hostpart.rfind('@') + 1);
    const bool has_port = hostpart.find(':') != std::string_view::npos;
    std::optional<Url> one = Parse("redis://" + std::string(part.substr(11)), error);
    if (!one) return std::nullopt;
    url.sentinels.emplace_back(one->host, has_port ? one->port : 26379);
    if (index++ == 0) {
      url.host = one->host;
      url.port = url.sentinels.back().second;
    }
    // The master's database and credentials: from whichever part gives them (kombu's examples
    // put the /db on the first or on every part; ToString puts it after the last).
    const std::string_view after_scheme = part.substr(11);
    const bool gives_db = after_scheme.find('/') != std::string_view::npos ||
                          after_scheme.find("db=") != std::string_view::npos;
    if (gives_db && !db_given) {
      url.db = one->db;
      db_given = true;
    }
    if (url.password.empty() && url.username.empty()) {
      url.username = one->username;
      url.password = one->password;
    }
    if (!one->master_name.empty()) url.master_name = one->master_name;
  }
  if (url.sentinels.empty()) {
    *error = "sentinel URL without any sentinel";
    return std::nullopt;
  }
  return url;
}

std::string Url::ToString(bool mask_password) const {
  std::string auth;
  if (!password.empty() || !username.empty()) {
    auth = username + ":" + (mask_password ? std::string("**") : password) + "@";
  }
  if (is_sentinel()) {
    std::string out;
    for (size_t i = 0; i < sentinels.size(); ++i) {
      if (i > 0) out += ";";
      out += "sentinel://" + (i == 0 ? auth : std::string()) + sentinels[i].first + ":" +
             std::to_string(sentinels[i].second);
    }
    out += "/" + std::to_string(db);
    if (!master_name.empty()) out += "?master_name=" + master_name;
    return out;
  }
  if (!unix_path.empty()) {
    return "unix://" + auth + unix_path + (db != 0 ? "?db=" + std::to_string(db) : "");
  }
  return "redis://" + auth + host + ":" + std::to_string(port) + "/" + std::to_string(db);
}

}  // namespace cw::redis

// Redis URLs as Celery/kombu accept them:
//   redis://[[username]:password@]host[:port][/db]   unix://[:password@]/path/to.sock[?db=N]
//   sentinel://[[username]:password@]host[:port][/db];sentinel://host2[:port];...
// A sentinel URL names the sentinels (port 26379 unless given); the master is asked of them by
// the name in the `master_name` transport option (kept here, and written as ?master_name=... by
// ToString so that the URL alone can travel to prefork children and to tasks). The credentials
// and database of the first part are the master's.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace cw::redis {

struct Url {
  std::string host = "localhost";
  int port = 6379;
  std::string unix_path;  ///< set for unix:// URLs
  int db = 0;
  std::string username;
  std::string password;
  /// Sentinel URLs: the sentinels to ask, in order, and the master's name (kombu's master_name).
  std::vector<std::pair<std::string, int>> sentinels;
  std::string master_name;
  /// kombu's global_keyprefix (a transport option, not part of the URL text): put before every
  /// key and channel the connection names (redis/key_prefix.h).
  std::string key_prefix;
  bool is_sentinel() const { return !sentinels.empty(); }

  /// Parses `text`; nullopt with `error` filled when it is not a redis:// or unix:// URL.
  static std::optional<Url> Parse(std::string_view text, std::string* error);
  /// The URL back as text; the password shown as "**" when `mask_password` (Celery's banner).
  std::string ToString(bool mask_password = true) const;

 private:
  static std::optional<Url> ParseSentinel(std::string_view text, std::string* error);
};

}  // namespace cw::redis

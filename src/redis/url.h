// Redis URLs as Celery/kombu accept them:
//   redis://[[username]:password@]host[:port][/db]   unix://[:password@]/path/to.sock[?db=N]
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace cw::redis {

struct Url {
  std::string host = "localhost";
  int port = 6379;
  std::string unix_path;  ///< set for unix:// URLs
  int db = 0;
  std::string username;
  std::string password;

  /// Parses `text`; nullopt with `error` filled when it is not a redis:// or unix:// URL.
  static std::optional<Url> Parse(std::string_view text, std::string* error);
  /// The URL back as text; the password shown as "**" when `mask_password` (Celery's banner).
  std::string ToString(bool mask_password = true) const;
};

}  // namespace cw::redis

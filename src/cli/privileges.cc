#include "cli/privileges.h"

#include <grp.h>
#include <pwd.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <vector>

namespace cw::cli {
namespace {

std::optional<long> Number(const std::string& text) {
  long n = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), n);
  if (text.empty() || ec != std::errc() || end != text.data() + text.size() || n < 0) {
    return std::nullopt;
  }
  return n;
}

struct User {
  uid_t uid = 0;
  gid_t gid = 0;
  std::string name;
};

std::optional<User> FindUser(const std::string& text) {
  std::vector<char> buf(16384);
  passwd pw{};
  passwd* found = nullptr;
  const std::optional<long> n = Number(text);
  const int rc = n ? getpwuid_r(static_cast<uid_t>(*n), &pw, buf.data(), buf.size(), &found)
                   : getpwnam_r(text.c_str(), &pw, buf.data(), buf.size(), &found);
  if (rc == 0 && found != nullptr) return User{pw.pw_uid, pw.pw_gid, pw.pw_name};
  if (n) return User{static_cast<uid_t>(*n), static_cast<gid_t>(*n), ""};  // no passwd entry
  return std::nullopt;
}

std::optional<gid_t> FindGroup(const std::string& text) {
  if (const std::optional<long> n = Number(text)) return static_cast<gid_t>(*n);
  std::vector<char> buf(16384);
  group gr{};
  group* found = nullptr;
  if (getgrnam_r(text.c_str(), &gr, buf.data(), buf.size(), &found) == 0 && found != nullptr) {
    return gr.gr_gid;
  }
  return std::nullopt;
}

std::string Errno(const std::string& what) { return what + ": " + std::strerror(errno); }

}  // namespace

std::string DropPrivileges(const std::string& user, const std::string& group) {
  std::optional<User> target;
  if (!user.empty()) {
    target = FindUser(user);
    if (!target) return "no such user '" + user + "'";
  }
  std::optional<gid_t> gid;
  if (!group.empty()) {
    gid = FindGroup(group);
    if (!gid) return "no such group '" + group + "'";
  } else if (target) {
    gid = target->gid;
  }
  const bool was_root = geteuid() == 0;
  // Groups first: once the uid is dropped they can no longer be changed.
  if (gid) {
    if (was_root) {
      const int rc = target && !target->name.empty() ? initgroups(target->name.c_str(), *gid)
                                                     : setgroups(1, &*gid);
      if (rc != 0) return Errno("cannot set the supplementary groups");
    }
    if (setgid(*gid) != 0) return Errno("cannot switch to group " + std::to_string(*gid));
  }
  if (target) {
    if (setuid(target->uid) != 0) {
      return Errno("cannot switch to user " + std::to_string(target->uid));
    }
    if (was_root && target->uid != 0 && (setuid(0) == 0 || seteuid(0) == 0)) {
      return "root privileges could be regained after switching user; refusing to run";
    }
  }
  return "";
}

bool RootConsented(bool allow_root_flag) {
  if (allow_root_flag) return true;
  const char* env = std::getenv("C_FORCE_ROOT");  // NOLINT(concurrency-mt-unsafe): at startup
  if (env == nullptr) return false;
  const std::string v(env);
  return !v.empty() && v != "0" && v != "false" && v != "no";
}

bool RunningAsRoot() { return geteuid() == 0; }

}  // namespace cw::cli

// Who the worker runs as. A worker runs code from task libraries and reads messages anyone with
// access to Redis can write; it should not be root. As Celery does, it refuses to start as
// root without consent (--allow-root, or Celery's C_FORCE_ROOT in the environment), and
// --uid/--gid switch to another user before any task library is loaded.
#pragma once

#include <string>

namespace cw::cli {

/// Switches to `user` (name or number) and `group` (name or number; empty: the user's primary
/// group), dropping supplementary groups, before anything else runs. Returns "" on success,
/// else why not (unknown user, not permitted, root regained).
std::string DropPrivileges(const std::string& user, const std::string& group);

/// Whether running as root was consented to: the flag, or C_FORCE_ROOT set (not "0"/"false").
bool RootConsented(bool allow_root_flag);

/// The process runs with root's effective uid.
bool RunningAsRoot();

}  // namespace cw::cli

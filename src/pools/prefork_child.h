// The child side of the prefork pool. The parent starts `cworker <its own arguments>
// --pool-child N`; cli/main.cc sees the flag, calls PrepareChildProcess before anything else,
// loads the same task library and hands over to RunPreforkChild, which answers jobs until the
// parent closes the pipe.
#pragma once

#include <cstddef>

namespace cw::pools {

/// The hidden flag that starts cworker as a prefork child; its value is the child's index.
inline constexpr const char* kChildFlag = "--pool-child";

struct ChildFds {
  int from_parent = -1;
  int to_parent = -1;
};

/// Run first in a child: closes every fd the parent leaked (hiredis sockets are not close-on-
/// exec; a child must never hold the parent's Redis connections), moves the frame pipes off
/// 0 and 1 (stdout then goes to stderr, so a task's printf cannot corrupt the stream), dies
/// with the parent (PR_SET_PDEATHSIG) and sets signals as Celery's children do: SIGINT
/// ignored (Ctrl+C reaches the whole process group; the parent decides), SIGTERM default.
ChildFds PrepareChildProcess();

/// Serves jobs on `fds` until the parent closes its end; returns the exit code.
/// `stack_size`: bytes of stack for the task (prefork tasks may recurse deeply, as on a
/// process's main stack, so at least 8 MiB is used).
int RunPreforkChild(ChildFds fds, int index, size_t stack_size);

}  // namespace cw::pools

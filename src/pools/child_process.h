// One child process of the prefork pool, started with Boost.Process (fork + exec of the
// cworker binary itself in child mode: nothing of the parent's threads or state survives into
// it) with two pipes: its stdin carries frames from the parent, its stdout frames to the
// parent (the child moves its own stdout to stderr, so task output cannot corrupt the stream).
#pragma once

#include <sys/types.h>

#include <memory>
#include <string>
#include <vector>

namespace cw::pools {

class ChildProcess {
 public:
  /// Starts `argv` (argv[0]: the executable's path). Throws std::runtime_error on failure.
  explicit ChildProcess(const std::vector<std::string>& argv);
  ~ChildProcess();  ///< kills the child if it still runs, and reaps it
  ChildProcess(const ChildProcess&) = delete;
  ChildProcess& operator=(const ChildProcess&) = delete;

  pid_t pid() const { return pid_; }
  int to_child() const { return to_child_; }      ///< non-blocking write end
  int from_child() const { return from_child_; }  ///< non-blocking read end

  /// Closes the pipe to the child: it finishes its current job and exits (graceful stop).
  void CloseInput();
  /// SIGKILL now. Safe to repeat.
  void Kill();
  /// Reaps the child if it has exited; true then (see status()).
  bool TryReap();
  /// Waits for the child to exit (polling, so a fiber only parks); SIGKILL after `grace`
  /// seconds. Returns the wait status.
  int Reap(double grace);
  bool reaped() const { return reaped_; }
  int status() const { return status_; }  ///< raw wait status, once reaped

 private:
  void WaitBlocking();  ///< waitpid without WNOHANG (after SIGKILL: the end is imminent)

  pid_t pid_ = -1;
  int to_child_ = -1;
  int from_child_ = -1;
  bool reaped_ = false;
  int status_ = 0;
};

/// What billiard prints for an exit status: "exitcode 1", "signal 9 (SIGKILL)".
std::string HumanStatus(int wait_status);

}  // namespace cw::pools

// How the worker runs tasks: Celery's -P. The worker's consumer loop is written once; a pool
// decides where a task's call runs and how many run at a time.
//
//   solo   the consumer runs each task itself, one at a time (Celery's -P solo).
//   green  one libuv loop, one fiber per task, up to -c at once (Celery's -P gevent); the
//          consumer is a fiber too, and Redis and HTTP waits park only their fiber.
//   prefork  -c child processes run the calls (Celery's default pool); the parent is a green
//          pool whose task fibers hand each call to a free child and wait for its answer, so
//          all broker and backend IO stays in the parent, pipelined on its loop.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <cworker/task.h>

#include "exec/executor.h"

namespace cw::pools {

/// Time limits of one call, in seconds (Celery's task_time_limit / task_soft_time_limit).
struct Limits {
  std::optional<double> hard;
  std::optional<double> soft;
};

using StartHook = std::function<void(int64_t pid)>;

struct PoolOptions {
  int concurrency = 1;
  size_t stack_size = 256 * 1024;  ///< green: bytes of stack per fiber
  double blocking_threshold = 1.0;  ///< green: warn when a task keeps the loop this long (0: off)
  /// prefork: the command that starts a child (the cworker binary and the worker's own
  /// arguments; the pool appends the child flag).
  std::vector<std::string> child_command;
  int max_tasks_per_child = 0;          ///< prefork: replace a child after this many tasks (0: never)
  int64_t max_memory_per_child_kib = 0;  ///< prefork: replace a child above this RSS (0: never)
};

class Pool {
 public:
  virtual ~Pool() = default;
  virtual std::string name() const = 0;

  /// Runs `consumer` (the worker's loop) inside the pool; returns once it has returned and
  /// every task it started has finished.
  virtual void Run(const std::function<void()>& consumer) = 0;
  /// Called by the consumer before it takes a message: returns once a task could start.
  virtual void WaitForSlot() = 0;
  /// Runs `job` (one message, start to finish): inline (solo) or on its own fiber (green).
  /// `label` ("name[id]") names it in log lines.
  virtual void Start(std::function<void()> job, std::string label) = 0;
  /// Called by the consumer when it stops: returns once every started job has finished.
  virtual void Drain() = 0;
  /// Cold shutdown, from any thread: end running calls at once (prefork kills its children).
  virtual void Terminate() {}

  // Remote control, from the mailbox thread (all thread-safe).
  /// Calls at once: -c, as changed by Resize.
  virtual int concurrency() const = 0;
  /// Whether TerminateTask can end a running call (revoke with terminate=True).
  virtual bool can_terminate() const { return false; }
  /// Ends the running call of task `id`: prefork sends `signum` to the child running it, green
  /// cancels it at its next yield point. That call's Outcome then carries `terminated`.
  virtual void TerminateTask(const std::string& /*id*/, int /*signum*/) {}
  /// pool_grow (delta > 0) / pool_shrink (delta < 0). Returns why not when the pool cannot.
  virtual std::optional<std::string> Resize(int /*delta*/) {
    return "the " + name() + " pool cannot grow or shrink";
  }
  /// Executes a task's call under `limits`. A soft limit raises SoftTimeLimitExceeded in the
  /// task; a hard limit ends it with TimeLimitExceeded, as far as the pool can enforce them.
  /// `on_start(pid)`, when given, is called as the call starts, with the pid of the process
  /// that runs it (Celery's STARTED record names that process).
  virtual exec::Outcome Call(const TaskDescriptor& task, const RequestInfo& request,
                             const Json& args, const Json& kwargs, Sender* sender,
                             const Limits& limits, const StartHook& on_start) = 0;
};

/// The pool named by -P ("solo", "green", "prefork"). Throws std::invalid_argument for others.
std::unique_ptr<Pool> MakePool(const std::string& name, const PoolOptions& options);

/// The FAILURE Celery stores when a hard time limit ends a task.
exec::Outcome TimeLimitExceededOutcome(double seconds);

}  // namespace cw::pools

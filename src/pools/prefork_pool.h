// -P prefork: -c child processes run the task calls; a crash or a hard time limit costs one
// child, never the worker (Celery's default pool, billiard).
//
// The parent is a green pool (pools/green_pool.h): the consumer and one fiber per running task
// share its libuv loop, and all Redis traffic stays here. A task fiber takes a free child,
// writes the job frame (pools/frame.h), and parks until the child's result frame arrives,
// answering the child's send requests (TaskContext::Send) meanwhile. The consumer starts a task
// only when a child is free, and then on any free child (-Ofair).
//
// A child that dies mid-task (EOF on its pipe) is reaped and replaced, and the task fails with
// billiard's WorkerLostError. The hard time limit is the parent's: it SIGKILLs the child and
// stores TimeLimitExceeded. The soft limit travels with the job and the child raises
// SoftTimeLimitExceeded at the task's next yield point. Children are replaced after
// --max-tasks-per-child tasks or when their RSS passes --max-memory-per-child.
#pragma once

#include <sys/types.h>

#include <atomic>
#include <memory>
#include <mutex>
#include <vector>

#include "pools/child_process.h"
#include "pools/frame.h"
#include "pools/green_pool.h"

namespace cw::pools {

class PreforkPool : public GreenPool {
 public:
  explicit PreforkPool(const PoolOptions& options);
  ~PreforkPool() override;

  std::string name() const override { return "prefork"; }
  void Run(const std::function<void()>& consumer) override;
  exec::Outcome Call(const TaskDescriptor& task, const RequestInfo& request, const Json& args,
                     const Json& kwargs, Sender* sender,
                     const Limits& limits, const StartHook& on_start) override;
  void Terminate() override;
  void TerminateTask(const std::string& id, int signum) override;
  std::optional<std::string> Resize(int delta) override;

 private:
  // Slots are never freed while the pool lives (fibers hold references to them): pool_shrink
  // closes one, pool_grow opens a closed one again or adds one.
  struct Slot {
    int index = 0;  ///< ForkPoolWorker-<index>, 1-based as in Celery
    std::unique_ptr<ChildProcess> process;
    std::unique_ptr<FramePipe> pipe;
    bool ready = false;   ///< said hello and is not running a job
    bool closed = false;  ///< pool_shrink: its child goes once idle and is not replaced
    int tasks = 0;        ///< jobs done by this process
    int failures = 0;     ///< failed starts in a row (backoff)
    std::string task_id;  ///< the task whose job it runs now
    std::optional<int> terminate_signal;  ///< revoke(terminate=True) sent this signal
  };
  enum class Answer { kResult, kLost };

  void StartChild(Slot& slot);
  void AwaitHello(Slot& slot);
  /// A start of `slot` failed: count it and start again after BackOff, on a fiber of its own.
  void RestartLater(Slot& slot);
  /// Waits before another start of `slot` after failures (cut short by a shutdown).
  void BackOff(const Slot& slot);
  Slot& Acquire();
  Answer Converse(Slot& slot, const RequestInfo& request, Sender* sender, std::string* result,
                  std::string* why);
  /// The child of `slot` must go (killed, or asked to exit by closing its pipe); it is reaped
  /// on a fiber of its own and a new child takes the slot.
  void Retire(Slot& slot, bool kill);
  void StopChildren();
  void Grow(int n);
  void Shrink(int n);
  void PublishPids();
  /// Every fiber parked in WaitUntil re-checks its condition.
  void Notify();
  void WaitUntil(const std::function<bool()>& done);

  PoolOptions options_;
  std::vector<std::unique_ptr<Slot>> slots_;
  std::vector<green::Fiber*> waiters_;
  bool stopping_ = false;
  std::atomic<bool> terminated_{false};  ///< cold shutdown: children are being killed
  size_t starting_ = 0;  ///< fibers that will still start or await a child
  size_t retiring_ = 0;  ///< children being reaped
  int64_t jobs_ = 0;     ///< billiard's job counter, for WorkerLostError's text
  // For Terminate() on the signal thread.
  std::mutex pids_mutex_;
  std::vector<pid_t> pids_;
};

}  // namespace cw::pools

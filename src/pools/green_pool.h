// -P green: up to -c tasks at once on fibers of one libuv loop (green/scheduler.h), Celery's
// -P gevent. The consumer loop is a fiber too; everything that waits (Redis, HTTP, sleep, fds)
// parks only its fiber.
//
// Time limits are cooperative, as with gevent: at the soft limit SoftTimeLimitExceeded is raised
// at the task's next yield point; at the hard limit the task is cancelled at its next yield
// point (best effort: a task that never yields cannot be stopped) and TimeLimitExceeded is
// stored. A task that keeps the loop longer than --blocking-threshold is reported by name.
#pragma once

#include <atomic>
#include <map>
#include <string>
#include <memory>
#include <thread>
#include <vector>

#include "green/scheduler.h"
#include "pools/pool.h"

namespace cw::pools {

class GreenPool : public Pool {
 public:
  explicit GreenPool(const PoolOptions& options);
  ~GreenPool() override;

  std::string name() const override { return "green"; }
  void Run(const std::function<void()>& consumer) override;
  void WaitForSlot() override;
  void Start(std::function<void()> job, std::string label) override;
  void Drain() override;
  exec::Outcome Call(const TaskDescriptor& task, const RequestInfo& request, const Json& args,
                     const Json& kwargs, Sender* sender,
                     const Limits& limits, const StartHook& on_start) override;

  int concurrency() const override { return concurrency_.load(); }
  bool can_terminate() const override { return true; }
  void TerminateTask(const std::string& id, int signum) override;
  std::optional<std::string> Resize(int delta) override;

  /// Tasks running now.
  size_t running() const { return running_; }

 protected:
  green::Scheduler& scheduler() { return scheduler_; }

 private:
  void Watchdog();

  PoolOptions options_;
  green::Scheduler scheduler_;
  std::atomic<int> concurrency_;
  size_t running_ = 0;
  // Task id -> the fiber running its call, and the calls revoke(terminate=True) ended (loop
  // thread only).
  std::map<std::string, green::Fiber*> calls_;
  std::map<std::string, int> terminated_;
  std::vector<green::Fiber*> slot_waiters_;
  green::Fiber* drain_waiter_ = nullptr;
  std::atomic<bool> stop_watchdog_{false};
  std::thread watchdog_;
};

}  // namespace cw::pools

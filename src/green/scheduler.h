// The green runtime: one libuv loop and many fibers on one thread (the gevent model).
//
// A fiber runs until it waits (sleep, a socket, a Redis reply, an HTTP response, an Event);
// the wait registers a libuv handle whose callback Wake()s the fiber, and the fiber Suspend()s
// back to the loop. Callbacks never resume fibers directly: Wake() puts the fiber on the ready
// queue and the loop resumes ready fibers from its own context, so nothing re-enters libuv,
// hiredis or libcurl from inside their callbacks.
//
// Everything here is single-threaded except Scheduler::RunningSince (for a watchdog thread) and
// Scheduler::Post (for remote control on the mailbox thread).
// The wait primitives (waits.h) work outside a scheduler too: they then block the thread, so the
// same task code runs in the solo pool.
#pragma once

#include <uv.h>

#include <atomic>
#include <chrono>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "green/fiber.h"

namespace cw::green {

/// Default fiber stack: 256 KiB of address space, of which only the touched pages cost memory.
constexpr size_t kDefaultStackSize = 256 * 1024;
/// Stacks of finished fibers kept for the next ones, by default (their touched pages stay
/// resident: a few KiB each).
constexpr size_t kSpareStacks = 64;

class Scheduler {
 public:
  explicit Scheduler(size_t stack_size = kDefaultStackSize);
  ~Scheduler();
  Scheduler(const Scheduler&) = delete;
  Scheduler& operator=(const Scheduler&) = delete;

  /// The scheduler whose Run() is active on this thread, or nullptr.
  static Scheduler* Current();

  uv_loop_t* loop() { return &loop_; }
  size_t stack_size() const { return stack_size_; }

  /// Starts `fn` on a new fiber at the next turn of the loop. An exception escaping `fn` is
  /// passed to the uncaught handler (default: std::terminate, as for a thread). The fiber is
  /// owned by the scheduler and freed when it finishes; the pointer is valid until then.
  Fiber* Spawn(std::function<void()> fn, std::string label = {});

  /// Runs the loop on this thread until every fiber has finished.
  void Run();

  /// How many finished fibers' stacks to keep for reuse (the green pool: its concurrency, so a
  /// busy pool never maps a stack; capped, so a burst of thousands does not stay resident).
  void set_spare_stacks(size_t n) { spare_limit_ = n; }

  /// Fibers started and not finished.
  size_t live_fibers() const { return live_; }

  /// Makes `fiber`'s current or next wait throw `error` (once). Harmless on a finished fiber
  /// only if the caller knows it is still alive: use from its own timers.
  void Interrupt(Fiber* fiber, std::exception_ptr error);
  /// Makes every wait of `fiber` from now on throw Cancelled.
  void Cancel(Fiber* fiber);
  /// Forgets a pending interrupt and a cancellation (the limited call is over).
  void ClearInterrupt(Fiber* fiber);

  /// Thread-safe: runs `fn` on the loop's thread at its next turn (not in a fiber: it may Spawn,
  /// Wake or Interrupt, never wait). Dropped if the loop never turns again.
  void Post(std::function<void()> fn);

  /// `on_blocked(fiber, seconds)` runs when a fiber kept the loop for longer than `threshold`
  /// between two yields (it is called after the fiber finally yielded).
  void set_block_monitor(std::chrono::duration<double> threshold,
                         std::function<void(const Fiber&, double)> on_blocked);
  /// Thread-safe: the label of the fiber running now and since when. False when none runs.
  bool RunningSince(std::string* label, std::chrono::steady_clock::time_point* since) const;

  /// Resources that live with this loop and must go before it closes (a curl multi handle, a
  /// Redis connection pool): released in reverse order of creation when the scheduler ends.
  std::shared_ptr<void> Local(const std::string& key) const;
  void SetLocal(const std::string& key, std::shared_ptr<void> value);

  /// Called with an exception that escaped a fiber's function.
  void set_uncaught_handler(std::function<void(std::exception_ptr)> handler) {
    uncaught_ = std::move(handler);
  }

 private:
  friend void Wake(Fiber* fiber);
  friend void Suspend();
  friend Fiber* CurrentFiber();

  void Resume(Fiber* fiber);
  void RunReady();
  void MakeReady(Fiber* fiber);

  uv_loop_t loop_{};
  uv_idle_t idle_{};  ///< active while fibers are ready: the loop then polls without blocking
  uv_async_t posted_async_{};  ///< wakes the loop for Post(); unreferenced (never keeps it alive)
  std::mutex posted_mutex_;
  std::vector<std::function<void()>> posted_;
  size_t stack_size_;
  std::vector<boost::context::stack_context> spare_stacks_;  ///< see set_spare_stacks
  size_t spare_limit_ = kSpareStacks;
  std::deque<Fiber*> ready_;
  Fiber* running_ = nullptr;
  size_t live_ = 0;
  std::function<void(std::exception_ptr)> uncaught_;

  std::chrono::duration<double> block_threshold_{0};
  std::function<void(const Fiber&, double)> on_blocked_;
  mutable std::mutex running_mutex_;  // guards the two fields below, for the watchdog thread
  std::string running_label_;
  std::chrono::steady_clock::time_point running_since_{};
  bool running_set_ = false;

  std::vector<std::pair<std::string, std::shared_ptr<void>>> locals_;
};

/// The fiber running on this thread, or nullptr (the loop itself, or no scheduler).
Fiber* CurrentFiber();
/// From a fiber: parks it until someone Wake()s it. Spurious wake-ups are possible: wait in a
/// loop on the condition. Does not throw; CheckInterrupt() does.
void Suspend();
/// Makes a parked fiber runnable (no-op if it already is, or if it is null).
void Wake(Fiber* fiber);
/// From a fiber: lets every other ready fiber run once, then continues.
void Yield();
/// Throws the fiber's pending interrupt (once) or Cancelled. No-op outside a fiber.
void CheckInterrupt();

}  // namespace cw::green

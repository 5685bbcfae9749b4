// The yield points: what a fiber waits on. Each works in three places:
//   - in a fiber: parks the fiber, the loop runs others meanwhile;
//   - on a thread without a scheduler (solo pool, prefork child, tests): blocks the thread;
// and each checks the fiber's pending interrupt (time limits) before and after waiting.
#pragma once

#include <chrono>
#include <optional>
#include <vector>

#include "green/scheduler.h"

namespace cw::green {

/// Sleeps for `duration` (zero or less: just a yield point).
void SleepFor(std::chrono::duration<double> duration);

enum FdEvents : int { kReadable = 1, kWritable = 2 };

/// Waits until `fd` is readable and/or writable (`events`, a mask of FdEvents) or `timeout`
/// passes (nullopt: no timeout). Returns the events that are ready (0 on timeout); an error or
/// hang-up on the socket reports it ready, so the caller's next read/write sees the error.
/// Only one fiber may wait on a given fd at a time (libuv's rule).
int WaitFd(int fd, int events, std::optional<std::chrono::duration<double>> timeout = {});

/// WaitFd for an fd a fiber waits on again and again (a prefork child's result pipe): the fd is
/// registered with the loop once and stays registered between waits, where each WaitFd costs
/// the loop two or three epoll_ctl calls. Readable only. It stops polling when the fd turns
/// ready while no fiber waits (level-triggered, it would fire every turn) and starts again at
/// the next Wait. Destroy it before the fd is closed, on the loop's thread; outside a fiber,
/// Wait is WaitFd.
class FdWatch {
 public:
  explicit FdWatch(int fd) : fd_(fd) {}
  ~FdWatch();
  FdWatch(const FdWatch&) = delete;
  FdWatch& operator=(const FdWatch&) = delete;
  /// Parks until the fd is readable (or has an error or hang-up); returns kReadable.
  int WaitReadable();

 private:
  struct Handle;
  int fd_;
  Handle* handle_ = nullptr;  ///< the loop's poll handle, made at the first wait in a fiber
  bool unpollable_ = false;   ///< not a pollable fd: always ready, as for WaitFd
};

/// Parks the calling fiber until `done()` is true; `arm(wake)` is called once to start whatever
/// will later call `wake()` (from a loop callback). Returns false when `timeout` passed first.
/// The building block for waits on callback APIs (hiredis, libcurl). Fibers only.
bool WaitFor(const std::function<bool()>& done,
             std::optional<std::chrono::duration<double>> timeout = {});

/// A one-shot flag fibers can wait on (set from the same thread: a fiber or a loop callback).
class Event {
 public:
  void Set();
  bool is_set() const { return set_; }
  /// Waits until Set(); false on timeout. Outside a fiber, only returns the current state.
  bool Wait(std::optional<std::chrono::duration<double>> timeout = {});

 private:
  bool set_ = false;
  std::vector<Fiber*> waiters_;
};

/// Counts free slots; Acquire parks while none is free (FIFO). Fibers only.
class Semaphore {
 public:
  explicit Semaphore(size_t count) : free_(count) {}
  void Acquire();
  void Release();
  size_t free() const { return free_; }

 private:
  size_t free_;
  std::vector<Fiber*> waiters_;
};

}  // namespace cw::green

#include "green/waits.h"

#include <poll.h>

#include <algorithm>
#include <cstddef>
#include <cmath>
#include <thread>

namespace cw::green {
namespace {

template <class Handle>
void CloseAndDelete(Handle* h) {
  uv_close(reinterpret_cast<uv_handle_t*>(h),
           [](uv_handle_t* raw) { delete reinterpret_cast<Handle*>(raw); });
}

uint64_t ToMillis(std::chrono::duration<double> d) {
  return d.count() <= 0 ? 0 : static_cast<uint64_t>(std::ceil(d.count() * 1000.0));
}

// One waiting fiber and whether what it waits for has happened.
struct Waiter {
  Fiber* fiber = nullptr;
  bool fired = false;
  int events = 0;
};

}  // namespace

bool WaitFor(const std::function<bool()>& done,
             std::optional<std::chrono::duration<double>> timeout) {
  Fiber* self = CurrentFiber();
  if (self == nullptr) throw std::logic_error("green::WaitFor called outside a fiber");
  CheckInterrupt();
  if (done()) return true;
  Waiter timer_state{self};
  uv_timer_t* timer = nullptr;
  if (timeout) {
    timer = new uv_timer_t;
    uv_timer_init(Scheduler::Current()->loop(), timer);
    timer->data = &timer_state;
    uv_timer_start(
        timer,
        [](uv_timer_t* t) {
          auto* w = static_cast<Waiter*>(t->data);
          w->fired = true;
          Wake(w->fiber);
        },
        ToMillis(*timeout), 0);
  }
  while (!done() && !timer_state.fired && !self->interrupted()) Suspend();
  if (timer != nullptr) {
    uv_timer_stop(timer);
    CloseAndDelete(timer);
  }
  CheckInterrupt();
  return done();
}

void SleepFor(std::chrono::duration<double> duration) {
  Fiber* self = CurrentFiber();
  if (self == nullptr) {
    if (duration.count() > 0) std::this_thread::sleep_for(duration);
    return;
  }
  if (duration.count() <= 0) {
    CheckInterrupt();
    Yield();
    CheckInterrupt();
    return;
  }
  WaitFor([] { return false; }, duration);
}

int WaitFd(int fd, int events, std::optional<std::chrono::duration<double>> timeout) {
  Fiber* self = CurrentFiber();
  if (self == nullptr) {
    pollfd p{fd, static_cast<short>(((events & kReadable) != 0 ? POLLIN : 0) |
                                     ((events & kWritable) != 0 ? POLLOUT : 0)),
             0};
    const int ms = timeout ? static_cast<int>(ToMillis(*timeout)) : -1;
    int rc = 0;
    do {
      rc = poll(&p, 1, ms);
    } while (rc < 0 && errno == EINTR);
    if (rc <= 0) return 0;
    int ready = 0;
    if ((p.revents & (POLLIN | POLLHUP | POLLERR)) != 0) ready |= events & kReadable;
    if ((p.revents & (POLLOUT | POLLHUP | POLLERR)) != 0) ready |= events & kWritable;
    return ready == 0 ? events : ready;
  }
  CheckInterrupt();
  auto* poll_handle = new uv_poll_t;
  if (uv_poll_init(Scheduler::Current()->loop(), poll_handle, fd) != 0) {
    delete poll_handle;  // not pollable (a regular file): always ready, as poll(2) says
    return events;
  }
  Waiter state{self};
  poll_handle->data = &state;
  const int uv_events = ((events & kReadable) != 0 ? UV_READABLE : 0) |
                        ((events & kWritable) != 0 ? UV_WRITABLE : 0);
  uv_poll_start(poll_handle, uv_events, [](uv_poll_t* p, int status, int got) {
    auto* w = static_cast<Waiter*>(p->data);
    w->fired = true;
    w->events = status < 0 ? -1 : got;
    Wake(w->fiber);
  });
  try {
    WaitFor([&] { return state.fired; }, timeout);
  } catch (...) {
    uv_poll_stop(poll_handle);
    CloseAndDelete(poll_handle);
    throw;
  }
  uv_poll_stop(poll_handle);
  CloseAndDelete(poll_handle);
  if (!state.fired) return 0;
  if (state.events < 0) return events;  // error on the fd: let the caller's IO report it
  return ((state.events & UV_READABLE) != 0 ? kReadable : 0) |
         ((state.events & UV_WRITABLE) != 0 ? kWritable : 0);
}

struct FdWatch::Handle {
  uv_poll_t poll{};
  Fiber* waiter = nullptr;
  bool fired = false;
  bool polling = false;
};

FdWatch::~FdWatch() {
  if (handle_ == nullptr) return;
  handle_->poll.data = nullptr;
  // A closed handle is freed by libuv's close callback (the loop may run it later).
  uv_close(reinterpret_cast<uv_handle_t*>(&handle_->poll), [](uv_handle_t* raw) {
    delete reinterpret_cast<Handle*>(reinterpret_cast<char*>(raw) - offsetof(Handle, poll));
  });
}

int FdWatch::WaitReadable() {
  Fiber* self = CurrentFiber();
  if (self == nullptr || unpollable_) return WaitFd(fd_, kReadable);
  CheckInterrupt();
  if (handle_ == nullptr) {
    auto* h = new Handle;
    if (uv_poll_init(Scheduler::Current()->loop(), &h->poll, fd_) != 0) {
      delete h;
      unpollable_ = true;
      return kReadable;
    }
    h->poll.data = h;
    handle_ = h;
  }
  Handle* h = handle_;
  h->fired = false;
  h->waiter = self;
  if (!h->polling) {
    h->polling = true;
    uv_poll_start(&h->poll, UV_READABLE, [](uv_poll_t* p, int status, int /*events*/) {
      auto* state = static_cast<Handle*>(p->data);
      if (state == nullptr) return;
      if (status < 0) state->polling = false;  // libuv stopped the poll after an error
      if (state->waiter == nullptr) {  // ready with no one waiting: stop until the next Wait
        state->polling = false;
        uv_poll_stop(p);
        return;
      }
      state->fired = true;  // an error counts as ready: the caller's read sees it
      Wake(state->waiter);
    });
  }
  try {
    WaitFor([h] { return h->fired; });
  } catch (...) {
    h->waiter = nullptr;
    throw;
  }
  h->waiter = nullptr;
  return kReadable;
}

void Event::Set() {
  set_ = true;
  for (Fiber* f : waiters_) Wake(f);
  waiters_.clear();
}

bool Event::Wait(std::optional<std::chrono::duration<double>> timeout) {
  Fiber* self = CurrentFiber();
  if (self == nullptr || set_) return set_;
  waiters_.push_back(self);
  bool ok = false;
  try {
    ok = WaitFor([this] { return set_; }, timeout);
  } catch (...) {
    std::erase(waiters_, self);
    throw;
  }
  std::erase(waiters_, self);
  return ok;
}

void Semaphore::Acquire() {
  Fiber* self = CurrentFiber();
  if (self == nullptr) throw std::logic_error("green::Semaphore::Acquire outside a fiber");
  if (free_ > 0 && waiters_.empty()) {
    --free_;
    return;
  }
  waiters_.push_back(self);
  try {
    WaitFor([&] { return free_ > 0 && waiters_.front() == self; });
  } catch (...) {
    std::erase(waiters_, self);
    if (!waiters_.empty() && free_ > 0) Wake(waiters_.front());
    throw;
  }
  waiters_.erase(waiters_.begin());
  --free_;
  if (free_ > 0 && !waiters_.empty()) Wake(waiters_.front());
}

void Semaphore::Release() {
  ++free_;
  if (!waiters_.empty()) Wake(waiters_.front());
}

}  // namespace cw::green

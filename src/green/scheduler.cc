#include "green/scheduler.h"

#include <cstring>
#include <stdexcept>
#include <thread>

#include <boost/context/protected_fixedsize_stack.hpp>

#if defined(__SANITIZE_ADDRESS__)
#define CW_GREEN_ASAN 1
#include <sanitizer/asan_interface.h>
#include <sanitizer/common_interface_defs.h>
#endif

// The Itanium C++ ABI's per-thread exception state; its layout is fixed by the ABI.
extern "C" void* __cxa_get_globals() noexcept;  // NOLINT(bugprone-reserved-identifier)

namespace cw::green {
namespace {

thread_local Scheduler* t_scheduler = nullptr;

// Saves this thread's exception globals into `save` and installs `load`.
void SwapEh(EhState* save, const EhState& load) {
  auto* globals = static_cast<EhState*>(__cxa_get_globals());
  *save = *globals;
  *globals = load;
}

// Hands out stacks with a guard page below them (an overflow faults instead of corrupting the
// neighbour) and remembers where the stack is, for AddressSanitizer. A finished fiber's stack
// goes to the scheduler's few spares instead of back to the kernel: mmap, mprotect, munmap and
// the first touch of fresh pages were a quarter of the green pool's CPU per trivial task.
class GuardedStack {
 public:
  GuardedStack(size_t size, std::vector<boost::context::stack_context>* spares,
               size_t spare_limit, const void** bottom, size_t* extent)
      : alloc_(size), spares_(spares), spare_limit_(spare_limit), bottom_(bottom),
        extent_(extent) {}
  boost::context::stack_context allocate() {
    boost::context::stack_context sctx;
    if (!spares_->empty()) {
      sctx = spares_->back();
      spares_->pop_back();
    } else {
      sctx = alloc_.allocate();
    }
    // The whole mapping, guard page included: sctx.size is larger than the size asked for, and
    // ASan must know the real top, or it cannot clean the frames an exception unwinds.
    *bottom_ = static_cast<char*>(sctx.sp) - sctx.size;
    *extent_ = sctx.size;
#ifdef CW_GREEN_ASAN
    // The pages may be a dead fiber's (a spare, or reused by mmap): drop its stale redzones.
    __asan_unpoison_memory_region(*bottom_, sctx.size);
#endif
    return sctx;
  }
  void deallocate(boost::context::stack_context& sctx) noexcept {
    if (spares_->size() < spare_limit_) {
      spares_->push_back(sctx);
    } else {
      alloc_.deallocate(sctx);
    }
  }

 private:
  boost::context::protected_fixedsize_stack alloc_;
  std::vector<boost::context::stack_context>* spares_;
  size_t spare_limit_;
  const void** bottom_;
  size_t* extent_;
};

}  // namespace

Fiber::Fiber(std::function<void()> fn, std::string label, size_t stack_size)
    : fn_(std::move(fn)), label_(std::move(label)), stack_size_(stack_size) {}

// ----- switching ----------------------------------------------------------------------------
// Loop -> fiber: Scheduler::Resume. Fiber -> loop: Suspend (or the fiber's end). Each side
// tells ASan where it is going and, once there, where it came from.

void Scheduler::Resume(Fiber* f) {
  running_ = f;
  const auto start = std::chrono::steady_clock::now();
  {
    std::lock_guard lock(running_mutex_);
    running_label_ = f->label_;
    running_since_ = start;
    running_set_ = true;
  }
  EhState loop_eh;
  SwapEh(&loop_eh, f->eh_);
#ifdef CW_GREEN_ASAN
  void* loop_fake = nullptr;
  __sanitizer_start_switch_fiber(&loop_fake, f->stack_bottom_, f->stack_extent_);
#endif
  f->self_ = std::move(f->self_).resume();
#ifdef CW_GREEN_ASAN
  __sanitizer_finish_switch_fiber(loop_fake, nullptr, nullptr);
#endif
  SwapEh(&f->eh_, loop_eh);
  running_ = nullptr;
  {
    std::lock_guard lock(running_mutex_);
    running_set_ = false;
  }
  const std::chrono::duration<double> ran = std::chrono::steady_clock::now() - start;
  if (on_blocked_ && block_threshold_.count() > 0 && ran > block_threshold_) {
    on_blocked_(*f, ran.count());
  }
  if (f->finished_) {
    --live_;
    delete f;  // its continuation is empty by now, so the stack is already released
  }
}

void Suspend() {
  Fiber* f = CurrentFiber();
  if (f == nullptr) throw std::logic_error("green::Suspend called outside a fiber");
#ifdef CW_GREEN_ASAN
  __sanitizer_start_switch_fiber(&f->fake_stack_, f->caller_bottom_, f->caller_size_);
#endif
  f->caller_ = std::move(f->caller_).resume();
#ifdef CW_GREEN_ASAN
  __sanitizer_finish_switch_fiber(f->fake_stack_, &f->caller_bottom_, &f->caller_size_);
#endif
}

Fiber* Scheduler::Spawn(std::function<void()> fn, std::string label) {
  auto* f = new Fiber(std::move(fn), std::move(label), stack_size_);
  f->owner_ = this;
  f->self_ = boost::context::fiber(
      std::allocator_arg, GuardedStack(stack_size_, &spare_stacks_, spare_limit_, &f->stack_bottom_, &f->stack_extent_),
      [this, f](boost::context::fiber&& caller) {
        f->caller_ = std::move(caller);
#ifdef CW_GREEN_ASAN
        __sanitizer_finish_switch_fiber(nullptr, &f->caller_bottom_, &f->caller_size_);
#endif
        try {
          f->fn_();
        } catch (const Cancelled&) {
          // Cancelled and unwound: the canceller already knows.
        } catch (...) {
          if (uncaught_) {
            uncaught_(std::current_exception());
          } else {
            std::terminate();
          }
        }
        f->fn_ = nullptr;  // release captures while still on the fiber's stack
        f->finished_ = true;
#ifdef CW_GREEN_ASAN
        __sanitizer_start_switch_fiber(nullptr, f->caller_bottom_, f->caller_size_);
#endif
        return std::move(f->caller_);
      });
  ++live_;
  MakeReady(f);
  return f;
}

// ----- ready queue --------------------------------------------------------------------------

void Scheduler::MakeReady(Fiber* f) {
  if (f->queued_ || f->finished_) return;
  f->queued_ = true;
  ready_.push_back(f);
  if (!uv_is_active(reinterpret_cast<uv_handle_t*>(&idle_))) {
    uv_idle_start(&idle_, [](uv_idle_t* idle) {
      static_cast<Scheduler*>(idle->data)->RunReady();
    });
  }
}

void Scheduler::RunReady() {
  // Only those ready now: a fiber that yields goes to the back and runs at the next turn, after
  // the loop has polled for IO once (so a busy yielder cannot starve sockets and timers).
  size_t n = ready_.size();
  while (n-- > 0 && !ready_.empty()) {
    Fiber* f = ready_.front();
    ready_.pop_front();
    f->queued_ = false;
    Resume(f);
  }
  if (ready_.empty()) uv_idle_stop(&idle_);
}

void Wake(Fiber* fiber) {
  if (fiber != nullptr) fiber->owner_->MakeReady(fiber);
}

void Yield() {
  Fiber* f = CurrentFiber();
  if (f == nullptr) {
    std::this_thread::yield();
    return;
  }
  Wake(f);
  Suspend();
}

Fiber* CurrentFiber() { return t_scheduler == nullptr ? nullptr : t_scheduler->running_; }

void CheckInterrupt() {
  Fiber* f = CurrentFiber();
  if (f == nullptr) return;
  if (f->cancelled_) throw Cancelled{};
  if (f->interrupt_) {
    std::exception_ptr e = std::move(f->interrupt_);
    f->interrupt_ = nullptr;
    std::rethrow_exception(e);
  }
}

void Scheduler::Interrupt(Fiber* fiber, std::exception_ptr error) {
  if (fiber == nullptr || fiber->finished_) return;
  fiber->interrupt_ = std::move(error);
  if (fiber != running_) MakeReady(fiber);
}

void Scheduler::Cancel(Fiber* fiber) {
  if (fiber == nullptr || fiber->finished_) return;
  fiber->cancelled_ = true;
  if (fiber != running_) MakeReady(fiber);
}

void Scheduler::ClearInterrupt(Fiber* fiber) {
  if (fiber == nullptr) return;
  fiber->interrupt_ = nullptr;
  fiber->cancelled_ = false;
}

// ----- the loop -----------------------------------------------------------------------------

Scheduler::Scheduler(size_t stack_size) : stack_size_(stack_size) {
  if (uv_loop_init(&loop_) != 0) throw std::runtime_error("uv_loop_init failed");
  uv_idle_init(&loop_, &idle_);
  idle_.data = this;
  uv_async_init(&loop_, &posted_async_, [](uv_async_t* async) {
    auto* self = static_cast<Scheduler*>(async->data);
    std::vector<std::function<void()>> posted;
    {
      std::lock_guard lock(self->posted_mutex_);
      posted.swap(self->posted_);
    }
    for (auto& fn : posted) fn();
  });
  posted_async_.data = this;
  uv_unref(reinterpret_cast<uv_handle_t*>(&posted_async_));
}

void Scheduler::Post(std::function<void()> fn) {
  {
    std::lock_guard lock(posted_mutex_);
    posted_.push_back(std::move(fn));
  }
  uv_async_send(&posted_async_);
}

Scheduler::~Scheduler() {
  Scheduler* previous = t_scheduler;
  t_scheduler = this;  // resources may close handles through Current()
  while (!locals_.empty()) {
    locals_.pop_back();
    uv_run(&loop_, UV_RUN_NOWAIT);
  }
  uv_walk(
      &loop_,
      [](uv_handle_t* h, void*) {
        if (!uv_is_closing(h)) uv_close(h, nullptr);
      },
      nullptr);
  uv_run(&loop_, UV_RUN_DEFAULT);
  uv_loop_close(&loop_);
  t_scheduler = previous;
  boost::context::protected_fixedsize_stack unmap(stack_size_);
  for (boost::context::stack_context& sctx : spare_stacks_) unmap.deallocate(sctx);
  spare_stacks_.clear();
  // Fibers still parked (the loop ended under them) are leaked on purpose: unwinding them would
  // run task code after its scheduler is gone.
}

Scheduler* Scheduler::Current() { return t_scheduler; }

void Scheduler::Run() {
  Scheduler* previous = t_scheduler;
  t_scheduler = this;
  while (live_ > 0) {
    const int active = uv_run(&loop_, UV_RUN_ONCE);
    if (active == 0 && ready_.empty() && live_ > 0) {
      t_scheduler = previous;
      throw std::logic_error(std::to_string(live_) +
                             " fiber(s) wait for something that can never happen (deadlock)");
    }
  }
  t_scheduler = previous;
}

void Scheduler::set_block_monitor(std::chrono::duration<double> threshold,
                                  std::function<void(const Fiber&, double)> on_blocked) {
  block_threshold_ = threshold;
  on_blocked_ = std::move(on_blocked);
}

bool Scheduler::RunningSince(std::string* label,
                             std::chrono::steady_clock::time_point* since) const {
  std::lock_guard lock(running_mutex_);
  if (!running_set_) return false;
  *label = running_label_;
  *since = running_since_;
  return true;
}

std::shared_ptr<void> Scheduler::Local(const std::string& key) const {
  for (const auto& [k, v] : locals_) {
    if (k == key) return v;
  }
  return nullptr;
}

void Scheduler::SetLocal(const std::string& key, std::shared_ptr<void> value) {
  locals_.emplace_back(key, std::move(value));
}

}  // namespace cw::green

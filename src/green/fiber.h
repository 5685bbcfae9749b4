// One green thread: a stackful Boost.Context fiber with a guard page below its stack.
//
// Fibers are created, resumed and destroyed only by the Scheduler (scheduler.h); task code sees
// them through the free functions there (Suspend, Wake, CurrentFiber). Two things make a switch
// more than a register swap:
//  - C++ exception state (the "currently caught" list of libstdc++) is per thread, so a fiber
//    that yields inside a catch block would otherwise see another fiber's exceptions. Every
//    switch saves and restores it (eh_state).
//  - AddressSanitizer must be told that the stack changes (__sanitizer_*_switch_fiber), or it
//    reports false stack-buffer overflows. Done when built with -fsanitize=address.
#pragma once

#include <cstddef>
#include <exception>
#include <functional>
#include <string>

#include <boost/context/fiber.hpp>

namespace cw::green {

class Scheduler;

/// Thrown at a yield point of a fiber that was cancelled (Scheduler::Cancel: a hard time limit).
/// Deliberately not a std::exception, so `catch (const std::exception&)` in task code does not
/// swallow it; `catch (...)` does, which is why the next yield point throws it again.
struct Cancelled {};

/// The libstdc++/libc++abi per-thread exception globals (the Itanium C++ ABI __cxa_eh_globals).
struct EhState {
  void* caught_exceptions = nullptr;
  unsigned int uncaught_exceptions = 0;
};

class Fiber {
 public:
  Fiber(const Fiber&) = delete;
  Fiber& operator=(const Fiber&) = delete;

  const std::string& label() const { return label_; }
  void set_label(std::string label) { label_ = std::move(label); }
  size_t stack_size() const { return stack_size_; }
  /// True once an interrupt is pending: waits return early and throw it.
  bool interrupted() const { return interrupt_ != nullptr || cancelled_; }
  bool cancelled() const { return cancelled_; }

 private:
  friend class Scheduler;
  friend void Suspend();
  friend void CheckInterrupt();
  friend void Wake(Fiber* fiber);
  Fiber(std::function<void()> fn, std::string label, size_t stack_size);

  Scheduler* owner_ = nullptr;
  std::function<void()> fn_;
  std::string label_;
  size_t stack_size_;
  boost::context::fiber self_;    ///< the fiber's own continuation while it is parked
  boost::context::fiber caller_;  ///< the scheduler's continuation while the fiber runs
  bool queued_ = false;           ///< in the ready queue
  bool finished_ = false;
  bool cancelled_ = false;
  std::exception_ptr interrupt_;  ///< thrown (once) at the next yield point
  EhState eh_;                    ///< the fiber's exception state while it is parked
  // AddressSanitizer bookkeeping (unused otherwise).
  void* fake_stack_ = nullptr;
  const void* stack_bottom_ = nullptr;
  size_t stack_extent_ = 0;  ///< bytes mapped for the stack (guard page included), for ASan
  const void* caller_bottom_ = nullptr;
  size_t caller_size_ = 0;
};

}  // namespace cw::green

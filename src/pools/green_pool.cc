#include "pools/green_pool.h"

#include <unistd.h>

#include <algorithm>
#include <chrono>

#include <spdlog/spdlog.h>

#include <cworker/errors.h>

#include "green/waits.h"
#include "pools/one_shot.h"

namespace cw::pools {
namespace {

std::string Seconds(double s) { return fmt::format("{:g}", s); }

}  // namespace

GreenPool::GreenPool(const PoolOptions& options)
    : options_(options), scheduler_(options.stack_size), concurrency_(options.concurrency) {
  // Every task slot's stack, plus the consumer's helpers, stays mapped once used (capped).
  scheduler_.set_spare_stacks(std::clamp<size_t>(static_cast<size_t>(options.concurrency) + 8,
                                                 green::kSpareStacks, 1024));
}

GreenPool::~GreenPool() {
  stop_watchdog_.store(true);
  if (watchdog_.joinable()) watchdog_.join();
}

void GreenPool::Run(const std::function<void()>& consumer) {
  if (options_.blocking_threshold > 0) {
    scheduler_.set_block_monitor(
        std::chrono::duration<double>(options_.blocking_threshold),
        [](const green::Fiber& fiber, double seconds) {
          spdlog::warn("{} blocked the event loop for {:.2f}s: no other task ran meanwhile "
                       "(CPU-bound or blocking work belongs in -P prefork)",
                       fiber.label(), seconds);
        });
    watchdog_ = std::thread([this] { Watchdog(); });
  }
  scheduler_.set_uncaught_handler([](std::exception_ptr e) {
    try {
      std::rethrow_exception(e);
    } catch (const std::exception& ex) {
      spdlog::critical("Unexpected error in a green fiber: {}", ex.what());
    } catch (...) {
      spdlog::critical("Unexpected non-standard exception in a green fiber");
    }
  });
  scheduler_.Spawn(consumer, "consumer");
  scheduler_.Run();
  stop_watchdog_.store(true);
  if (watchdog_.joinable()) watchdog_.join();
}

void GreenPool::WaitForSlot() {
  green::Fiber* self = green::CurrentFiber();
  while (running_ >= static_cast<size_t>(concurrency_.load())) {
    slot_waiters_.push_back(self);
    green::WaitFor([this] { return running_ < static_cast<size_t>(concurrency_.load()); });
    std::erase(slot_waiters_, self);
  }
}

void GreenPool::Start(std::function<void()> job, std::string label) {
  ++running_;
  scheduler_.Spawn(
      [this, job = std::move(job)] {
        struct Done {
          GreenPool* pool;
          ~Done() {
            --pool->running_;
            for (green::Fiber* f : pool->slot_waiters_) green::Wake(f);
            if (pool->running_ == 0) green::Wake(pool->drain_waiter_);
          }
        } done{this};
        job();
      },
      std::move(label));
}

void GreenPool::Drain() {
  if (running_ == 0) return;
  spdlog::info("Waiting for {} running task(s) to finish...", running_);
  drain_waiter_ = green::CurrentFiber();
  green::WaitFor([this] { return running_ == 0; });
  drain_waiter_ = nullptr;
}

exec::Outcome GreenPool::Call(const TaskDescriptor& task, const RequestInfo& request,
                              const Json& args, const Json& kwargs, Sender* sender,
                              const Limits& limits,
                             const StartHook& on_start) {
  green::Fiber* self = green::CurrentFiber();
  bool hard_hit = false;
  std::unique_ptr<OneShot> soft_timer;
  std::unique_ptr<OneShot> hard_timer;
  if (self != nullptr && limits.soft) {
    soft_timer = std::make_unique<OneShot>(scheduler_.loop(), *limits.soft, [&] {
      spdlog::warn("Soft time limit ({}s) exceeded for {}[{}]", Seconds(*limits.soft),
                   request.task, request.id);
      scheduler_.Interrupt(self, std::make_exception_ptr(SoftTimeLimitExceeded()));
    });
  }
  if (self != nullptr && limits.hard) {
    hard_timer = std::make_unique<OneShot>(scheduler_.loop(), *limits.hard, [&] {
      spdlog::error("Hard time limit ({}s) exceeded for {}[{}]", Seconds(*limits.hard),
                    request.task, request.id);
      hard_hit = true;
      scheduler_.Cancel(self);
    });
  }
  if (on_start) on_start(getpid());
  if (self != nullptr) calls_[request.id] = self;
  exec::Outcome out = exec::Execute(task, request, args, kwargs, sender);
  calls_.erase(request.id);
  soft_timer.reset();
  hard_timer.reset();
  if (self != nullptr) scheduler_.ClearInterrupt(self);
  if (auto t = terminated_.find(request.id); t != terminated_.end()) {
    // Cancelled by revoke(terminate=True); a call that finished before its next yield point
    // keeps its own outcome.
    if (out.kind == exec::OutcomeKind::kFailure) out.terminated = t->second;
    terminated_.erase(t);
  } else if (hard_hit) {
    const double runtime = out.runtime_s;
    out = TimeLimitExceededOutcome(*limits.hard);
    out.runtime_s = runtime;
  }
  return out;
}

void GreenPool::TerminateTask(const std::string& id, int signum) {
  scheduler_.Post([this, id, signum] {
    auto call = calls_.find(id);
    if (call == calls_.end()) return;  // finished meanwhile
    terminated_[id] = signum;
    scheduler_.Cancel(call->second);
  });
}

std::optional<std::string> GreenPool::Resize(int delta) {
  int now = concurrency_.load();
  do {
    if (now + delta < 1) {
      return "cannot shrink the pool below 1 (it has " + std::to_string(now) + ")";
    }
  } while (!concurrency_.compare_exchange_weak(now, now + delta));
  scheduler_.Post([this] {  // a grown pool lets the waiting consumer go on
    for (green::Fiber* f : slot_waiters_) green::Wake(f);
  });
  return std::nullopt;
}

void GreenPool::Watchdog() {
  // Reports a task while it still blocks the loop (the scheduler reports the total afterwards).
  const auto threshold = std::chrono::duration<double>(options_.blocking_threshold);
  const auto tick = std::chrono::duration_cast<std::chrono::milliseconds>(
      std::min(threshold / 4, std::chrono::duration<double>(0.25)));
  std::chrono::steady_clock::time_point reported{};
  while (!stop_watchdog_.load()) {
    std::this_thread::sleep_for(std::max(tick, std::chrono::milliseconds(10)));
    std::string label;
    std::chrono::steady_clock::time_point since;
    if (!scheduler_.RunningSince(&label, &since) || since == reported) continue;
    const std::chrono::duration<double> ran = std::chrono::steady_clock::now() - since;
    if (ran >= threshold) {
      spdlog::warn("{} has been blocking the event loop for {:.2f}s", label, ran.count());
      reported = since;
    }
  }
}

}  // namespace cw::pools

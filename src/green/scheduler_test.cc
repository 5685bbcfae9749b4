// The fiber scheduler: spawning, ordering, interrupts, exceptions across switches, scale.
#include "green/scheduler.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <cstring>
#include <stdexcept>
#include <string>
#include <vector>

#include "green/waits.h"

namespace cw::green {
namespace {

TEST(Scheduler, RunsFibersUntilAllFinish) {
  Scheduler s;
  std::vector<std::string> log;
  s.Spawn([&] {
    log.push_back("a1");
    Yield();
    log.push_back("a2");
  });
  s.Spawn([&] {
    log.push_back("b1");
    Yield();
    log.push_back("b2");
  });
  s.Run();
  EXPECT_EQ(log, (std::vector<std::string>{"a1", "b1", "a2", "b2"}));
  EXPECT_EQ(s.live_fibers(), 0u);
}

TEST(Scheduler, FibersSpawnFibers) {
  Scheduler s;
  int done = 0;
  s.Spawn([&] {
    for (int i = 0; i < 3; ++i) {
      Scheduler::Current()->Spawn([&] { ++done; });
    }
    ++done;
  });
  s.Run();
  EXPECT_EQ(done, 4);
}

TEST(Scheduler, CurrentFiberIsNullOutsideFibers) {
  EXPECT_EQ(CurrentFiber(), nullptr);
  EXPECT_EQ(Scheduler::Current(), nullptr);
  Scheduler s;
  Fiber* seen = nullptr;
  Fiber* spawned = s.Spawn([&] { seen = CurrentFiber(); }, "named");
  s.Run();
  EXPECT_EQ(seen, spawned);
  EXPECT_EQ(Scheduler::Current(), nullptr);
}

TEST(Scheduler, ExceptionStateSurvivesASwitchInsideACatchBlock) {
  // Fiber A yields while handling its exception; fiber B throws and catches its own meanwhile.
  // Without saving the per-thread exception globals, A's `throw;` would rethrow B's exception
  // (or nothing).
  Scheduler s;
  std::string a_rethrown;
  std::string b_caught;
  s.Spawn([&] {
    try {
      throw std::runtime_error("from A");
    } catch (const std::exception&) {
      Yield();
      try {
        throw;
      } catch (const std::exception& again) {
        a_rethrown = again.what();
      }
    }
  });
  s.Spawn([&] {
    try {
      throw std::logic_error("from B");
    } catch (const std::exception& e) {
      b_caught = e.what();
      Yield();
    }
  });
  s.Run();
  EXPECT_EQ(a_rethrown, "from A");
  EXPECT_EQ(b_caught, "from B");
  EXPECT_EQ(std::uncaught_exceptions(), 0);
}

TEST(Scheduler, UncaughtExceptionGoesToTheHandler) {
  Scheduler s;
  std::string seen;
  s.set_uncaught_handler([&](std::exception_ptr e) {
    try {
      std::rethrow_exception(e);
    } catch (const std::exception& ex) {
      seen = ex.what();
    }
  });
  s.Spawn([] { throw std::runtime_error("escaped"); });
  s.Run();
  EXPECT_EQ(seen, "escaped");
}

TEST(Scheduler, InterruptIsThrownAtTheNextYieldPointOnce) {
  Scheduler s;
  std::string caught;
  bool slept_again = false;
  Fiber* sleeper = s.Spawn([&] {
    try {
      SleepFor(std::chrono::seconds(30));
    } catch (const std::runtime_error& e) {
      caught = e.what();
    }
    SleepFor(std::chrono::milliseconds(1));  // the interrupt is not thrown twice
    slept_again = true;
  });
  s.Spawn([&] {
    SleepFor(std::chrono::milliseconds(5));
    Scheduler::Current()->Interrupt(sleeper,
                                    std::make_exception_ptr(std::runtime_error("soft limit")));
  });
  const auto start = std::chrono::steady_clock::now();
  s.Run();
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(5));
  EXPECT_EQ(caught, "soft limit");
  EXPECT_TRUE(slept_again);
}

TEST(Scheduler, CancelUnwindsEvenThroughCatchAll) {
  Scheduler s;
  int catch_alls = 0;
  bool reached_end = false;
  bool destructor_ran = false;
  struct Guard {
    bool* flag;
    ~Guard() { *flag = true; }
  };
  Fiber* victim = s.Spawn([&] {
    Guard guard{&destructor_ran};
    for (int i = 0; i < 3; ++i) {
      try {
        SleepFor(std::chrono::seconds(30));
      } catch (...) {
        ++catch_alls;  // swallowed: the next yield point throws again
      }
    }
    reached_end = true;
    SleepFor(std::chrono::seconds(30));
  });
  s.Spawn([&] {
    SleepFor(std::chrono::milliseconds(2));
    Scheduler::Current()->Cancel(victim);
  });
  s.Run();
  EXPECT_EQ(catch_alls, 3);
  EXPECT_TRUE(reached_end);
  EXPECT_TRUE(destructor_ran);
}

TEST(Scheduler, TenThousandFibersSleepConcurrently) {
  Scheduler s;
  constexpr int kFibers = 10000;
  int finished = 0;
  for (int i = 0; i < kFibers; ++i) {
    s.Spawn([&] {
      SleepFor(std::chrono::milliseconds(200));
      ++finished;
    });
  }
  const auto start = std::chrono::steady_clock::now();
  s.Run();
  const std::chrono::duration<double> took = std::chrono::steady_clock::now() - start;
  EXPECT_EQ(finished, kFibers);
  // Sequential sleeping would take 2000 s; concurrent, a fraction of a second beyond 0.2 s.
  EXPECT_LT(took.count(), 10.0);
}

TEST(Scheduler, BlockMonitorNamesTheFiberThatKeptTheLoop) {
  Scheduler s;
  std::string who;
  double seconds = 0;
  s.set_block_monitor(std::chrono::milliseconds(50), [&](const Fiber& f, double secs) {
    who = f.label();
    seconds = secs;
  });
  s.Spawn([] { SleepFor(std::chrono::milliseconds(1)); }, "polite");
  s.Spawn([] { std::this_thread::sleep_for(std::chrono::milliseconds(120)); }, "hog");
  s.Run();
  EXPECT_EQ(who, "hog");
  EXPECT_GE(seconds, 0.1);
}

TEST(Scheduler, RunningSinceReportsTheRunningFiber) {
  Scheduler s;
  std::string label;
  std::chrono::steady_clock::time_point since;
  bool seen = false;
  s.Spawn([&] { seen = s.RunningSince(&label, &since); }, "me");
  s.Run();
  EXPECT_TRUE(seen);
  EXPECT_EQ(label, "me");
  EXPECT_FALSE(s.RunningSince(&label, &since));
}

TEST(Scheduler, DeadlockIsReportedNotSpun) {
  Scheduler s;
  Event never;
  s.Spawn([&] { never.Wait(); });
  EXPECT_THROW(s.Run(), std::logic_error);
  never.Set();  // let it finish: a scheduler leaks fibers still parked when it is destroyed
  s.Run();
  EXPECT_EQ(s.live_fibers(), 0u);
}

// Mappings of this process (each fiber stack is one, plus its guard page).
size_t MappingCount() {
  FILE* maps = std::fopen("/proc/self/maps", "r");
  size_t lines = 0;
  for (int c = std::fgetc(maps); c != EOF; c = std::fgetc(maps)) lines += c == '\n' ? 1 : 0;
  std::fclose(maps);
  return lines;
}

TEST(Scheduler, FinishedFibersStacksAreReusedAndReleasedWithTheScheduler) {
  const size_t before = MappingCount();
  {
    Scheduler s;
    // 500 at once, then 2,000 one after another: only kSpareStacks outlive their fibers.
    int sum = 0;
    for (int i = 0; i < 500; ++i) {
      s.Spawn([&sum] {
        Yield();
        ++sum;
      });
    }
    s.Run();
    for (int i = 0; i < 2000; ++i) {
      s.Spawn([&sum] {
        volatile char frame[32 * 1024];  // dirty a reused stack deeply
        std::memset(const_cast<char*>(frame), 1, sizeof frame);
        sum += frame[100];
      });
      s.Run();
    }
    EXPECT_EQ(sum, 2500);
    EXPECT_LE(MappingCount(), before + 2 * kSpareStacks + 16);
  }
  EXPECT_LE(MappingCount(), before + 16);  // the spares went back to the kernel
}

TEST(Scheduler, SpareStacksAreCappedAtTheLimitSet) {
  const size_t before = MappingCount();
  Scheduler s;
  s.set_spare_stacks(8);
  for (int i = 0; i < 300; ++i) s.Spawn([] { Yield(); });
  s.Run();
  EXPECT_LE(MappingCount(), before + 2 * 8 + 16);  // 300 stacks were mapped at once
}

TEST(Scheduler, DeepRecursionFitsTheDefaultStack) {
  Scheduler s;
  std::function<int(int)> depth = [&](int n) -> int {
    volatile char pad[512] = {};
    pad[0] = static_cast<char>(n);
    return n == 0 ? pad[0] : 1 + depth(n - 1);
  };
  int got = 0;
  s.Spawn([&] { got = depth(100); });
  s.Run();
  EXPECT_EQ(got, 100);
}

// Frames an exception unwinds leave redzones behind them; ASan clears them on each throw, but only
// if it knows the fiber's real stack bounds. Under ASan, a later frame at the same depth would
// otherwise report a stack-buffer-overflow that is not there.
__attribute__((noinline)) void ThrowFromDepth(int n) {
  volatile char pad[512] = {};
  pad[0] = static_cast<char>(n);
  if (n == 0) throw std::runtime_error("deep");
  ThrowFromDepth(n - 1);
  pad[1] = pad[0];
}

__attribute__((noinline)) size_t FillALargeLocal() {
  char buffer[4000];
  std::memset(buffer, 'x', sizeof buffer);
  const std::string copy(buffer, sizeof buffer);
  return copy.size();
}

TEST(Scheduler, FramesUnwoundByAnExceptionCanBeReused) {
  Scheduler s;
  size_t filled = 0;
  int caught = 0;
  s.Spawn([&] {
    for (int round = 0; round < 3; ++round) {
      try {
        ThrowFromDepth(8);
      } catch (const std::runtime_error&) {
        ++caught;
      }
      filled += FillALargeLocal();
      Yield();
    }
  });
  s.Run();
  EXPECT_EQ(caught, 3);
  EXPECT_EQ(filled, 3 * 4000u);
}

}  // namespace
}  // namespace cw::green

// The yield points, in a fiber and on a plain thread.
#include "green/waits.h"

#include <fcntl.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <chrono>
#include <string>
#include <vector>

namespace cw::green {
namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

double Since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

TEST(Waits, SleepsInterleaveInAFiberAndOrderByDeadline) {
  Scheduler s;
  std::vector<int> order;
  for (int ms : {30, 10, 20}) {
    s.Spawn([&order, ms] {
      SleepFor(milliseconds(ms));
      order.push_back(ms);
    });
  }
  const auto start = Clock::now();
  s.Run();
  EXPECT_EQ(order, (std::vector<int>{10, 20, 30}));
  EXPECT_LT(Since(start), 0.5);  // 60 ms if they ran one after another; ~30 ms together
}

TEST(Waits, SleepBlocksOutsideAFiber) {
  const auto start = Clock::now();
  SleepFor(milliseconds(20));
  EXPECT_GE(Since(start), 0.019);
}

TEST(Waits, FdWaitWakesWhenThePipeBecomesReadable) {
  int fds[2];
  ASSERT_EQ(pipe(fds), 0);
  Scheduler s;
  int ready = -1;
  std::string got;
  s.Spawn([&] {
    ready = WaitFd(fds[0], kReadable, std::chrono::seconds(5));
    char buf[16] = {};
    const ssize_t n = read(fds[0], buf, sizeof buf);
    got.assign(buf, n > 0 ? static_cast<size_t>(n) : 0);
  });
  s.Spawn([&] {
    SleepFor(milliseconds(10));
    ASSERT_EQ(write(fds[1], "hi", 2), 2);
  });
  s.Run();
  EXPECT_EQ(ready, kReadable);
  EXPECT_EQ(got, "hi");
  close(fds[0]);
  close(fds[1]);
}

TEST(Waits, FdWaitTimesOut) {
  int fds[2];
  ASSERT_EQ(pipe(fds), 0);
  Scheduler s;
  int ready = -1;
  s.Spawn([&] { ready = WaitFd(fds[0], kReadable, milliseconds(20)); });
  s.Run();
  EXPECT_EQ(ready, 0);
  EXPECT_EQ(WaitFd(fds[0], kReadable, milliseconds(5)), 0);  // and on a plain thread
  EXPECT_EQ(WaitFd(fds[1], kWritable, milliseconds(5)), kWritable);
  close(fds[0]);
  close(fds[1]);
}

TEST(Waits, FdWaitOnARegularFileIsReadyAtOnce) {
  const int fd = open("/proc/self/stat", O_RDONLY);
  ASSERT_GE(fd, 0);
  Scheduler s;
  int ready = -1;
  s.Spawn([&] { ready = WaitFd(fd, kReadable, milliseconds(1000)); });
  s.Run();
  EXPECT_EQ(ready, kReadable);
  close(fd);
}

TEST(Waits, InterruptedFdWaitCleansUpItsHandle) {
  int fds[2];
  ASSERT_EQ(pipe(fds), 0);
  Scheduler s;
  bool interrupted = false;
  int second = -1;
  Fiber* waiter = s.Spawn([&] {
    try {
      WaitFd(fds[0], kReadable);
    } catch (const std::runtime_error&) {
      interrupted = true;
    }
    // The same fd can be waited on again: the first poll handle is gone.
    second = WaitFd(fds[0], kReadable, milliseconds(10));
  });
  s.Spawn([&] {
    SleepFor(milliseconds(5));
    Scheduler::Current()->Interrupt(waiter, std::make_exception_ptr(std::runtime_error("x")));
  });
  s.Run();
  EXPECT_TRUE(interrupted);
  EXPECT_EQ(second, 0);
  close(fds[0]);
  close(fds[1]);
}

TEST(Waits, AnFdWatchWakesAtEachWriteAndSeesDataThatCameWhileNoOneWaited) {
  int fds[2];
  ASSERT_EQ(pipe2(fds, O_NONBLOCK), 0);
  Scheduler s;
  std::string got;
  s.Spawn([&] {
    FdWatch watch(fds[0]);
    char buf[16];
    for (int round = 0; round < 3; ++round) {
      ssize_t n;
      while ((n = read(fds[0], buf, sizeof buf)) < 0) watch.WaitReadable();
      got.append(buf, static_cast<size_t>(n));
      // Round 1: the writer wrote while no one waited; the watch, still armed from round 0,
      // fires with no waiter and must stop polling (or the loop would spin) and start again.
      if (round == 1) SleepFor(milliseconds(30));
    }
  });
  s.Spawn([&] {
    for (const char* piece : {"a", "b", "c"}) {
      SleepFor(milliseconds(10));
      ASSERT_EQ(write(fds[1], piece, 1), 1);
    }
  });
  const auto start = Clock::now();
  s.Run();
  EXPECT_EQ(got, "abc");
  EXPECT_LT(Since(start), 2.0);
  close(fds[0]);
  close(fds[1]);
}

TEST(Waits, AnFdWatchGoneLeavesItsFdNumberFreeForTheNextWait) {
  int fds[2];
  ASSERT_EQ(pipe2(fds, O_NONBLOCK), 0);
  Scheduler s;
  int after = -1;
  s.Spawn([&] {
    {
      FdWatch watch(fds[0]);
      ASSERT_EQ(write(fds[1], "x", 1), 1);
      EXPECT_EQ(watch.WaitReadable(), kReadable);
    }
    // The fd registered with the loop once is free again: WaitFd polls it (a stale
    // registration would make uv_poll_init refuse the fd, and WaitFd report it ready at once).
    char buf[4];
    ASSERT_EQ(read(fds[0], buf, sizeof buf), 1);
    after = WaitFd(fds[0], kReadable, milliseconds(20));
  });
  s.Run();
  EXPECT_EQ(after, 0);  // nothing to read: the wait timed out
  close(fds[0]);
  close(fds[1]);
}

TEST(Waits, EventWakesEveryWaiter) {
  Scheduler s;
  Event ev;
  int woken = 0;
  for (int i = 0; i < 5; ++i) {
    s.Spawn([&] {
      if (ev.Wait(std::chrono::seconds(5))) ++woken;
    });
  }
  s.Spawn([&] {
    SleepFor(milliseconds(5));
    ev.Set();
  });
  s.Run();
  EXPECT_EQ(woken, 5);
}

TEST(Waits, EventWaitTimesOut) {
  Scheduler s;
  Event ev;
  bool got = true;
  s.Spawn([&] { got = ev.Wait(milliseconds(10)); });
  s.Run();
  EXPECT_FALSE(got);
}

TEST(Waits, SemaphoreBoundsConcurrencyInFifoOrder) {
  Scheduler s;
  Semaphore slots(2);
  int running = 0;
  int peak = 0;
  std::vector<int> order;
  for (int i = 0; i < 6; ++i) {
    s.Spawn([&, i] {
      slots.Acquire();
      order.push_back(i);
      peak = std::max(peak, ++running);
      SleepFor(milliseconds(5));
      --running;
      slots.Release();
    });
  }
  s.Run();
  EXPECT_EQ(peak, 2);
  EXPECT_EQ(order, (std::vector<int>{0, 1, 2, 3, 4, 5}));
  EXPECT_EQ(slots.free(), 2u);
}

TEST(Waits, WaitForTimesOutAndReportsIt) {
  Scheduler s;
  bool result = true;
  s.Spawn([&] { result = WaitFor([] { return false; }, milliseconds(10)); });
  s.Run();
  EXPECT_FALSE(result);
}

}  // namespace
}  // namespace cw::green

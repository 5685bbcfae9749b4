// The task API's yield points (cw::SleepFor, cw::http, cw::WaitReadable, cw::redis::Command) in
// a green scheduler, where they park the fiber, and on a plain thread, where they block.
#include <fcntl.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <chrono>
#include <cworker/cworker.h>
#include <cworker/errors.h>

#include "green/scheduler.h"
#include "testing/http_server.h"

namespace cw {
namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

double Since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

TEST(GreenHttp, ConcurrentRequestsOverlapInOneThread) {
  testing::HttpServer server(milliseconds(300));
  green::Scheduler s;
  constexpr int kRequests = 50;
  int ok = 0;
  for (int i = 0; i < kRequests; ++i) {
    s.Spawn([&] {
      const http::Response r = http::Get(server.url("/number"));
      if (r.status == 200 && Json::Parse(r.body).At("method").as_string() == "GET") ++ok;
    });
  }
  const auto start = Clock::now();
  s.Run();
  EXPECT_EQ(ok, kRequests);
  EXPECT_LT(Since(start), 3.0);  // one after another: 15 s
}

TEST(GreenHttp, ReusesConnections) {
  testing::HttpServer server;
  green::Scheduler s;
  std::vector<long> statuses;
  s.Spawn([&] {
    for (int i = 0; i < 5; ++i) statuses.push_back(http::Get(server.url()).status);
  });
  s.Run();
  EXPECT_EQ(statuses, std::vector<long>(5, 200));
  EXPECT_EQ(server.requests(), 5);
  EXPECT_EQ(server.connections(), 1);
}

TEST(GreenHttp, PostSendsBodyAndHeadersComeBack) {
  testing::HttpServer server;
  green::Scheduler s;
  http::Response r;
  s.Spawn([&] { r = http::Post(server.url(), std::string(1000, 'x')); });
  s.Run();
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(Json::Parse(r.body).At("method").as_string(), "POST");
  EXPECT_EQ(Json::Parse(r.body).At("body_bytes").As<int64_t>(), 1000);
  EXPECT_EQ(r.headers["x-test"], "yes");
}

TEST(GreenHttp, TimeoutRaisesTimeoutError) {
  testing::HttpServer server(milliseconds(2000));
  green::Scheduler s;
  bool timed_out = false;
  s.Spawn([&] {
    try {
      http::Get(server.url(), {.timeout = milliseconds(200)});
    } catch (const TimeoutError&) {
      timed_out = true;
    }
  });
  const auto start = Clock::now();
  s.Run();
  EXPECT_TRUE(timed_out);
  EXPECT_LT(Since(start), 1.5);
}

TEST(GreenHttp, RefusedConnectionRaisesConnectionError) {
  green::Scheduler s;
  bool refused = false;
  s.Spawn([&] {
    try {
      http::Get("http://127.0.0.1:1/");
    } catch (const ConnectionError&) {
      refused = true;
    }
  });
  s.Run();
  EXPECT_TRUE(refused);
}

TEST(GreenHttp, SoftLimitInterruptsARequestAndTheLoopStaysUsable) {
  testing::HttpServer server(milliseconds(1500));
  green::Scheduler s;
  bool interrupted = false;
  long later = 0;
  green::Fiber* caller = s.Spawn([&] {
    try {
      http::Get(server.url());
    } catch (const SoftTimeLimitExceeded&) {
      interrupted = true;
    }
  });
  s.Spawn([&] {
    SleepFor(milliseconds(50));
    green::Scheduler::Current()->Interrupt(caller,
                                           std::make_exception_ptr(SoftTimeLimitExceeded()));
  });
  s.Run();
  EXPECT_TRUE(interrupted);
  s.Spawn([&] { later = http::Get(server.url()).status; });  // the multi handle still works
  s.Run();
  EXPECT_EQ(later, 200);
}

TEST(BlockingHttp, WorksOutsideFibersAndReusesTheConnection) {
  testing::HttpServer server;
  EXPECT_EQ(http::Get(server.url()).status, 200);
  EXPECT_EQ(http::Post(server.url(), "{}").status, 200);
  EXPECT_EQ(server.connections(), 1);
}

TEST(GreenIo, SleepYieldsToOtherTasks) {
  green::Scheduler s;
  std::vector<std::string> order;
  s.Spawn([&] {
    SleepFor(milliseconds(50));
    order.push_back("slow");
  });
  s.Spawn([&] {
    SleepFor(milliseconds(10));
    order.push_back("fast");
  });
  s.Run();
  EXPECT_EQ(order, (std::vector<std::string>{"fast", "slow"}));
}

TEST(GreenIo, WaitReadableParksUntilData) {
  int fds[2];
  ASSERT_EQ(pipe(fds), 0);
  green::Scheduler s;
  bool readable = false;
  bool timed_out_first = true;
  s.Spawn([&] {
    timed_out_first = !WaitReadable(fds[0], milliseconds(10));
    readable = WaitReadable(fds[0], std::chrono::seconds(5));
  });
  s.Spawn([&] {
    SleepFor(milliseconds(30));
    ASSERT_EQ(write(fds[1], "x", 1), 1);
  });
  s.Run();
  EXPECT_TRUE(timed_out_first);
  EXPECT_TRUE(readable);
  EXPECT_TRUE(WaitWritable(fds[1], milliseconds(10)));  // and on a plain thread
  close(fds[0]);
  close(fds[1]);
}

TEST(GreenIo, RedisCommandWithABadUrlRaisesConnectionError) {
  try {
    redis::Command({"PING"}, "redis://127.0.0.1:1/0");
    FAIL() << "expected a ConnectionError";
  } catch (const TaskError& e) {
    EXPECT_EQ(e.exc_module(), "redis.exceptions");
    EXPECT_EQ(e.exc_type(), "ConnectionError");
  }
}

}  // namespace
}  // namespace cw

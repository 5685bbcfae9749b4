#include "worker/revoked_set.h"

#include <unistd.h>

#include <cstdio>
#include <fstream>

#include <gtest/gtest.h>

#include "worker/rate_limit.h"

namespace cw::worker {
namespace {

using std::chrono::seconds;

TEST(RevokedSet, ForgetsIdsAfterTheirExpiryAndBeyondItsSize) {
  RevokedSet set(3, seconds(100));
  const auto t0 = RevokedSet::Clock::now();
  set.Add("a", t0);
  set.Add("b", t0 + seconds(1));
  EXPECT_TRUE(set.Contains("a", t0 + seconds(99)));
  EXPECT_FALSE(set.Contains("a", t0 + seconds(100)));
  EXPECT_TRUE(set.Contains("b", t0 + seconds(100)));
  set.Add("c", t0 + seconds(2));
  set.Add("d", t0 + seconds(3));  // a fourth: the oldest goes
  EXPECT_FALSE(set.Contains("a", t0));
  EXPECT_EQ(set.Ids(t0 + seconds(3)), (std::vector<std::string>{"b", "c", "d"}));
  set.Add("b", t0 + seconds(4));  // revoked again: now the newest
  EXPECT_EQ(set.Ids(t0 + seconds(4)), (std::vector<std::string>{"c", "d", "b"}));
}

TEST(RevokedSet, SurvivesASaveAndLoad) {
  const std::string path = ::testing::TempDir() + "/revoked-" + std::to_string(getpid()) + ".json";
  {
    RevokedSet set(50000, seconds(10800));
    set.Add("id-1");
    set.Add("id-2");
    set.Save(path);
  }
  RevokedSet again(50000, seconds(10800));
  again.Load(path);
  EXPECT_TRUE(again.Contains("id-1"));
  EXPECT_TRUE(again.Contains("id-2"));
  EXPECT_FALSE(again.Contains("id-3"));
  RevokedSet short_lived(50000, seconds(1));  // loaded ids keep their revoke time
  short_lived.Load(path);
  EXPECT_FALSE(short_lived.Contains("id-1", RevokedSet::Clock::now() + seconds(2)));

  std::ofstream(path) << "{not json";
  EXPECT_THROW(again.Load(path), std::runtime_error);
  std::remove(path.c_str());
  RevokedSet empty(10, seconds(10));
  EXPECT_NO_THROW(empty.Load(path));  // no file yet: nothing revoked
  EXPECT_EQ(empty.size(), 0u);
}

TEST(RateLimit, ParsesCeleryRates) {
  std::string error;
  EXPECT_DOUBLE_EQ(*ParseRate("10/s", &error), 10);
  EXPECT_DOUBLE_EQ(*ParseRate("120/m", &error), 2);
  EXPECT_DOUBLE_EQ(*ParseRate("3600/h", &error), 1);
  EXPECT_DOUBLE_EQ(*ParseRate("5", &error), 5);
  EXPECT_DOUBLE_EQ(*ParseRate("", &error), 0);
  EXPECT_DOUBLE_EQ(*ParseRate("0", &error), 0);
  EXPECT_FALSE(ParseRate("ten/s", &error));
  EXPECT_NE(error.find("'ten'"), std::string::npos);
  EXPECT_FALSE(ParseRate("10/d", &error));
}

TEST(RateLimit, SpacesStartsOneIntervalApart) {
  RateLimiter limiter;
  const auto t0 = RateLimiter::Clock::now();
  EXPECT_EQ(limiter.Reserve("t", 2, t0), t0);  // the first may start at once
  EXPECT_EQ(limiter.Reserve("t", 2, t0), t0 + std::chrono::milliseconds(500));
  EXPECT_EQ(limiter.Reserve("t", 2, t0), t0 + std::chrono::milliseconds(1000));
  EXPECT_EQ(limiter.Reserve("other", 2, t0), t0);  // per task name
  EXPECT_EQ(limiter.Reserve("t", 2, t0 + seconds(10)), t0 + seconds(10));  // idle: no debt
  limiter.Reset("t");
  EXPECT_EQ(limiter.Reserve("t", 2, t0 + seconds(10)), t0 + seconds(10));
}

}  // namespace
}  // namespace cw::worker

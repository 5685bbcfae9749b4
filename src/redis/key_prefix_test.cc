#include "redis/key_prefix.h"

#include <gtest/gtest.h>

namespace cw::redis {
namespace {

using Argv = std::vector<std::string_view>;

TEST(KeyPrefix, KeysOfTheCommandsCworkerSends) {
  EXPECT_EQ(KeyPositions(Argv{"LPUSH", "celery", "msg"}), (std::vector<size_t>{1}));
  EXPECT_EQ(KeyPositions(Argv{"zadd", "unacked_index", "XX", "CH", "1", "t"}),
            (std::vector<size_t>{1}));
  EXPECT_EQ(KeyPositions(Argv{"BRPOP", "a", "b", "1.000"}), (std::vector<size_t>{1, 2}));
  EXPECT_EQ(KeyPositions(Argv{"EVALSHA", "sha", "2", "k1", "k2", "arg"}),
            (std::vector<size_t>{3, 4}));
  EXPECT_EQ(KeyPositions(Argv{"EXISTS", "a", "b"}), (std::vector<size_t>{1, 2}));
  EXPECT_EQ(KeyPositions(Argv{"PSUBSCRIBE", "/0.*.celery.pidbox"}), (std::vector<size_t>{1}));
  // Redis's own channel is not the application's.
  EXPECT_TRUE(KeyPositions(Argv{"SUBSCRIBE", "__redis__:invalidate"}).empty());
  // No keys: left alone.
  EXPECT_TRUE(KeyPositions(Argv{"CLIENT", "TRACKING", "ON"}).empty());
  EXPECT_TRUE(KeyPositions(Argv{"PING"}).empty());
  EXPECT_TRUE(KeyPositions(Argv{"SCRIPT", "LOAD", "return 1"}).empty());
  EXPECT_EQ(KeyPositions(Argv{"SET", "unacked_mutex", "tok", "NX", "PX", "1"}),
            (std::vector<size_t>{1}));
}

TEST(KeyPrefix, StripsOnlyItsOwnPrefix) {
  EXPECT_EQ(StripPrefix("app1:celery", "app1:"), "celery");
  EXPECT_EQ(StripPrefix("celery", "app1:"), "celery");
  EXPECT_EQ(StripPrefix("celery", ""), "celery");
}

}  // namespace
}  // namespace cw::redis

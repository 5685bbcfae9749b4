#include "redis/url.h"

#include <gtest/gtest.h>

namespace cw::redis {
namespace {

Url MustParse(const char* text) {
  std::string error;
  auto url = Url::Parse(text, &error);
  EXPECT_TRUE(url.has_value()) << error;
  return url.value_or(Url{});
}

TEST(RedisUrl, ParsesHostPortAndDatabase) {
  const Url url = MustParse("redis://127.0.0.1:6391/2");
  EXPECT_EQ(url.host, "127.0.0.1");
  EXPECT_EQ(url.port, 6391);
  EXPECT_EQ(url.db, 2);
  EXPECT_EQ(url.ToString(), "redis://127.0.0.1:6391/2");
}

TEST(RedisUrl, DefaultsLikeRedisPy) {
  const Url url = MustParse("redis://");
  EXPECT_EQ(url.host, "localhost");
  EXPECT_EQ(url.port, 6379);
  EXPECT_EQ(url.db, 0);
}

TEST(RedisUrl, ReadsPasswordAndAclUserAndMasksThem) {
  const Url url = MustParse("redis://alice:s%40cret@redis.local:7000/1");
  EXPECT_EQ(url.username, "alice");
  EXPECT_EQ(url.password, "s@cret");
  EXPECT_EQ(url.ToString(), "redis://alice:**@redis.local:7000/1");
  EXPECT_EQ(MustParse("redis://:pw@h/0").password, "pw");
  EXPECT_EQ(MustParse("redis://:pw@h/0").username, "");
}

TEST(RedisUrl, ParsesUnixSockets) {
  const Url url = MustParse("unix:///run/redis.sock?db=3");
  EXPECT_EQ(url.unix_path, "/run/redis.sock");
  EXPECT_EQ(url.db, 3);
}

TEST(RedisUrl, RejectsOtherSchemesAndBadNumbers) {
  std::string error;
  EXPECT_FALSE(Url::Parse("amqp://guest@localhost//", &error));
  EXPECT_NE(error.find("unsupported"), std::string::npos);
  EXPECT_FALSE(Url::Parse("redis://h:99999/0", &error));
  EXPECT_FALSE(Url::Parse("redis://h:1/x", &error));
  EXPECT_FALSE(Url::Parse("redis://h:1/-1", &error));
}

TEST(Url, TlsIsRefusedWithTheWayAround) {
  std::string error;
  EXPECT_FALSE(Url::Parse("rediss://127.0.0.1:6380/0", &error));
  EXPECT_NE(error.find("TLS (rediss://) is not supported"), std::string::npos) << error;
  EXPECT_NE(error.find("tunnel"), std::string::npos) << error;
}

}  // namespace
}  // namespace cw::redis

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

TEST(Url, SentinelUrlsAsKombuWritesThem) {
  std::string error;
  auto url = Url::Parse("sentinel://:s3cret@127.0.0.1:26380/2;sentinel://10.0.0.2", &error);
  ASSERT_TRUE(url) << error;
  EXPECT_TRUE(url->is_sentinel());
  ASSERT_EQ(url->sentinels.size(), 2u);
  EXPECT_EQ(url->sentinels[0], (std::pair<std::string, int>{"127.0.0.1", 26380}));
  EXPECT_EQ(url->sentinels[1], (std::pair<std::string, int>{"10.0.0.2", 26379}));  // default
  EXPECT_EQ(url->db, 2);
  EXPECT_EQ(url->password, "s3cret");
  EXPECT_TRUE(url->master_name.empty());  // a transport option, set by the caller
  url->master_name = "mymaster";
  // The text form carries the master's name, for tasks and prefork children.
  auto again = Url::Parse(url->ToString(false), &error);
  ASSERT_TRUE(again) << error;
  EXPECT_EQ(again->sentinels, url->sentinels);
  EXPECT_EQ(again->master_name, "mymaster");
  EXPECT_EQ(again->db, 2);
  EXPECT_EQ(url->ToString(), "sentinel://:**@127.0.0.1:26380;sentinel://10.0.0.2:26379/2?master_name=mymaster");
  EXPECT_FALSE(Url::Parse("sentinel://a:1;redis://b:2", &error));
  EXPECT_NE(error.find("sentinel://host:port"), std::string::npos);
}

}  // namespace
}  // namespace cw::redis

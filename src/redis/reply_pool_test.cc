#include "redis/reply_pool.h"

#include <gtest/gtest.h>
#include <hiredis/hiredis.h>

#include <string>
#include <string_view>

namespace cw::redis {
namespace {

using namespace std::string_literals;

// Reads one reply from `resp` with the pooled builders.
redisReply* Read(std::string_view resp) {
  static redisReplyObjectFunctions functions = PooledReplyFunctions(&FreePooledReply);
  redisReader* reader = redisReaderCreateWithFunctions(&functions);
  void* raw = nullptr;
  EXPECT_EQ(redisReaderFeed(reader, resp.data(), resp.size()), REDIS_OK);
  EXPECT_EQ(redisReaderGetReply(reader, &raw), REDIS_OK);
  redisReaderFree(reader);
  return static_cast<redisReply*>(raw);
}

std::string_view Text(const redisReply* r) { return {r->str, r->len}; }

TEST(ReplyPool, BuildsEveryKindOfReplyAsHiredisDoes) {
  redisReply* r = Read("*6\r\n:42\r\n$5\r\nhe\0lo\r\n$-1\r\n*1\r\n+OK\r\n-ERR no\r\n*0\r\n"s);
  ASSERT_NE(r, nullptr);
  ASSERT_EQ(r->type, REDIS_REPLY_ARRAY);
  ASSERT_EQ(r->elements, 6u);
  EXPECT_EQ(r->element[0]->type, REDIS_REPLY_INTEGER);
  EXPECT_EQ(r->element[0]->integer, 42);
  EXPECT_EQ(r->element[1]->type, REDIS_REPLY_STRING);
  EXPECT_EQ(Text(r->element[1]), std::string_view("he\0lo", 5));
  EXPECT_EQ(r->element[1]->str[5], '\0');
  EXPECT_EQ(r->element[2]->type, REDIS_REPLY_NIL);
  ASSERT_EQ(r->element[3]->type, REDIS_REPLY_ARRAY);
  ASSERT_EQ(r->element[3]->elements, 1u);
  EXPECT_EQ(r->element[3]->element[0]->type, REDIS_REPLY_STATUS);
  EXPECT_EQ(Text(r->element[3]->element[0]), "OK");
  EXPECT_EQ(r->element[4]->type, REDIS_REPLY_ERROR);
  EXPECT_EQ(Text(r->element[4]), "ERR no");
  EXPECT_EQ(r->element[5]->type, REDIS_REPLY_ARRAY);
  EXPECT_EQ(r->element[5]->elements, 0u);
  FreePooledReply(r);
}

TEST(ReplyPool, ATextLargerThanEveryBlockIsKeptWhole) {
  const std::string big(100000, 'm');
  redisReply* r = Read("$100000\r\n" + big + "\r\n");
  ASSERT_NE(r, nullptr);
  EXPECT_EQ(Text(r), big);
  FreePooledReply(r);
}

#if !defined(__SANITIZE_ADDRESS__)
TEST(ReplyPool, AFreedReplysBlockServesTheNextOne) {
  redisReply* first = Read(":1\r\n");
  FreePooledReply(first);
  redisReply* second = Read(":2\r\n");
  EXPECT_EQ(second, first);  // the same block: no allocation
  EXPECT_EQ(second->integer, 2);
  FreePooledReply(second);
}
#endif

}  // namespace
}  // namespace cw::redis

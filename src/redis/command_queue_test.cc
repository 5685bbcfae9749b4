#include "redis/command_queue.h"

#include <gtest/gtest.h>
#include <hiredis/hiredis.h>

#include <string>
#include <vector>

namespace cw::redis {
namespace {

// What hiredis's own formatter writes for `argv`: the bytes we must match.
std::string HiredisFormat(const std::vector<std::string_view>& argv) {
  std::vector<const char*> args;
  std::vector<size_t> lens;
  for (const std::string_view a : argv) {
    args.push_back(a.data());
    lens.push_back(a.size());
  }
  char* bytes = nullptr;
  const int n = redisFormatCommandArgv(&bytes, static_cast<int>(argv.size()), args.data(),
                                       lens.data());
  std::string out(bytes, static_cast<size_t>(n));
  redisFreeCommand(bytes);
  return out;
}

TEST(CommandQueue, WritesTheBytesHiredisWouldFormat) {
  const std::vector<std::string_view> argv = {"EVALSHA", "abc", "1", "celery-task-meta-x",
                                              std::string_view("a\0b\r\n", 5), ""};
  CommandQueue q;
  q.PushCommand(argv, "");
  ASSERT_EQ(q.size(), 1u);
  EXPECT_EQ(q.front(), HiredisFormat(argv));
}

TEST(CommandQueue, PutsTheKeyPrefixOnKeysOnly) {
  CommandQueue q;
  const std::vector<std::string_view> argv = {"ZREM", "unacked_index", "tag"};
  q.PushCommand(argv, "app:");
  EXPECT_EQ(q.front(), HiredisFormat({"ZREM", "app:unacked_index", "tag"}));
}

TEST(CommandQueue, KeepsOrderAcrossPushesAndPopsAndAFrontPush) {
  CommandQueue q;
  q.PushBack("one");
  q.PushBack("two");
  q.PushFront("zero");
  ASSERT_EQ(q.size(), 3u);
  EXPECT_EQ(q[0], "zero");
  EXPECT_EQ(q[1], "one");
  EXPECT_EQ(q[2], "two");
  q.PopFront();
  EXPECT_EQ(q.front(), "one");
  q.PushBack(q.front());  // a view into the queue itself, pushed again
  q.PopFront();
  EXPECT_EQ(q[0], "two");
  EXPECT_EQ(q[1], "one");
}

TEST(CommandQueue, ReclaimsAnsweredBytesWhileCommandsStayQueued) {
  // A queue that never empties (a steady stream, replies always in flight) must not grow
  // without bound, and the commands still queued keep their bytes.
  CommandQueue q;
  const std::string big(1000, 'x');
  for (int i = 0; i < 2000; ++i) {
    q.PushBack(big + std::to_string(i));
    if (q.size() > 3) q.PopFront();
  }
  ASSERT_EQ(q.size(), 3u);
  EXPECT_EQ(q[0], big + "1997");
  EXPECT_EQ(q[1], big + "1998");
  EXPECT_EQ(q[2], big + "1999");
  EXPECT_LT(q.bytes_held(), 200u * 1000);  // 2 MB went through it
  while (!q.empty()) q.PopFront();
  EXPECT_EQ(q.bytes_held(), 0u);
}

}  // namespace
}  // namespace cw::redis

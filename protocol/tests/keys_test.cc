#include "cw/protocol/keys.h"

#include <gtest/gtest.h>

#include <string>

namespace cw::protocol {
namespace {

using namespace std::string_literals;

TEST(Keys, PriorityStepIsTheLargestKombuStepNotAbovePriority) {
  const int expected[] = {0, 0, 0, 3, 3, 3, 6, 6, 6, 9};
  for (int p = 0; p <= 9; ++p) EXPECT_EQ(PriorityStep(p), expected[p]) << p;
  EXPECT_EQ(PriorityStep(-5), 0);
  EXPECT_EQ(PriorityStep(12), 9);
}

TEST(Keys, QueueKeyAddsTheStepAfterKombusSeparator) {
  EXPECT_EQ(QueueKey("celery", 0), "celery");
  EXPECT_EQ(QueueKey("celery", 2), "celery");
  EXPECT_EQ(QueueKey("celery", 4), "celery\x06\x16"s + "3");
  EXPECT_EQ(QueueKey("celery", 6), "celery\x06\x16"s + "6");
  EXPECT_EQ(QueueKey("celery", 9), "celery\x06\x16"s + "9");
  EXPECT_EQ(QueueKey("fast", 42), "fast\x06\x16"s + "9");
}

TEST(Keys, QueueOfKeySplitsAtTheLastSeparator) {
  EXPECT_EQ(QueueOfKey("celery"), "celery");
  EXPECT_EQ(QueueOfKey("celery\x06\x16"s + "3"), "celery");
  const std::string odd =
      "a\x06\x16"
      "b\x06\x16"
      "6";
  EXPECT_EQ(QueueOfKey(odd),
            "a\x06\x16"
            "b");
  for (int p = 0; p <= 9; ++p) EXPECT_EQ(QueueOfKey(QueueKey("q", p)), "q");
}

TEST(Keys, BindingsUseKombusRowFormat) {
  EXPECT_EQ(BindingKey("celery"), "_kombu.binding.celery");
  EXPECT_EQ(BindingRow("celery", "", "celery"),
            "celery\x06\x16\x06\x16"
            "celery");
  EXPECT_EQ(BindingRow("", "", "w1@vm.celery.pidbox"), "\x06\x16\x06\x16w1@vm.celery.pidbox");
}

TEST(Keys, ResultKeysUseCeleryPrefixes) {
  EXPECT_EQ(TaskMetaKey("254de228"), "celery-task-meta-254de228");
  EXPECT_EQ(kTasksetMetaPrefix, "celery-taskset-meta-");
  EXPECT_EQ(kDefaultResultExpires, 86400);
}

}  // namespace
}  // namespace cw::protocol

#include "util/scratch_string.h"

#include <gtest/gtest.h>

#include <string>

namespace cw::util {
namespace {

TEST(ScratchString, ANewHolderGetsTheLastBufferEmptyWithItsCapacity) {
  const char* first_data = nullptr;
  size_t first_capacity = 0;
  {
    ScratchString s;
    s->assign(4000, 'x');
    first_data = s->data();
    first_capacity = s->capacity();
  }
  ScratchString again;
  EXPECT_TRUE(again->empty());
  EXPECT_EQ(again->data(), first_data);  // the same storage: nothing was allocated
  EXPECT_EQ(again->capacity(), first_capacity);
}

TEST(ScratchString, TwoHoldersAtOnceHaveTheirOwnBuffers) {
  ScratchString a;
  ScratchString b;
  a->assign(100, 'a');
  b->assign(100, 'b');
  EXPECT_EQ(*a, std::string(100, 'a'));
  EXPECT_EQ(*b, std::string(100, 'b'));
  EXPECT_NE(a->data(), b->data());
}

TEST(ScratchString, AHugeBufferIsNotKept) {
  {
    ScratchString s;
    s->assign(4u << 20, 'h');
  }
  ScratchString next;
  EXPECT_LT(next->capacity(), size_t{4} << 20);
}

}  // namespace
}  // namespace cw::util

#include "util/uuid.h"

#include <set>

#include <gtest/gtest.h>

namespace cw::util {
namespace {

TEST(Uuid4, HasCanonicalVersion4Form) {
  const std::string id = Uuid4();
  ASSERT_EQ(id.size(), 36u);
  EXPECT_EQ(id[8], '-');
  EXPECT_EQ(id[13], '-');
  EXPECT_EQ(id[14], '4');
  EXPECT_NE(std::string("89ab").find(id[19]), std::string::npos);
}

TEST(Uuid4, IsUniqueAcrossManyCalls) {
  std::set<std::string> seen;
  for (int i = 0; i < 1000; ++i) seen.insert(Uuid4());
  EXPECT_EQ(seen.size(), 1000u);
}

}  // namespace
}  // namespace cw::util

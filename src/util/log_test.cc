#include "util/log.h"

#include <gtest/gtest.h>

namespace cw::log {
namespace {

TEST(Log, ParsesCeleryLevelNamesInAnyCase) {
  spdlog::level::level_enum level{};
  ASSERT_TRUE(ParseLevel("info", &level));
  EXPECT_EQ(level, spdlog::level::info);
  ASSERT_TRUE(ParseLevel("WARNING", &level));
  EXPECT_EQ(level, spdlog::level::warn);
  ASSERT_TRUE(ParseLevel("Fatal", &level));
  EXPECT_EQ(level, spdlog::level::critical);
  EXPECT_FALSE(ParseLevel("verbose", &level));
}

TEST(Log, PrintsCeleryLevelNames) {
  EXPECT_EQ(CeleryLevelName(spdlog::level::warn), "WARNING");
  EXPECT_EQ(CeleryLevelName(spdlog::level::err), "ERROR");
  EXPECT_EQ(CeleryLevelName(spdlog::level::debug), "DEBUG");
}

}  // namespace
}  // namespace cw::log

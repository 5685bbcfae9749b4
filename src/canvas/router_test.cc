#include "canvas/router.h"

#include <gtest/gtest.h>

namespace {
using cw::Json;
using cw::canvas::GlobMatch;
using cw::canvas::Router;

TEST(GlobMatch, FollowsFnmatch) {
  EXPECT_TRUE(GlobMatch("pyside.*", "pyside.double"));
  EXPECT_FALSE(GlobMatch("pyside.*", "tasks.add"));
  EXPECT_TRUE(GlobMatch("tasks.?dd", "tasks.add"));
  EXPECT_TRUE(GlobMatch("tasks.[am]*", "tasks.mul"));
  EXPECT_FALSE(GlobMatch("tasks.[!am]*", "tasks.mul"));
  EXPECT_TRUE(GlobMatch("*", ""));
  EXPECT_TRUE(GlobMatch("a[", "a["));  // unterminated set: a literal '['
}

TEST(Router, ExplicitQueueWinsOverRoutesAndDefaults) {
  const Router r({{"pyside.*", "python"}}, "main");
  EXPECT_EQ(r.Resolve("pyside.x", Json::MakeObject({{"queue", "q1"}})).routing_key, "q1");
  EXPECT_EQ(r.Resolve("pyside.x", Json::Object{}).routing_key, "python");
  EXPECT_EQ(r.Resolve("tasks.add", Json::Object{}).routing_key, "main");
  EXPECT_EQ(r.Resolve("tasks.add", Json::Object{}, "cpu").routing_key, "cpu");
  const auto ex = r.Resolve("x", Json::MakeObject({{"exchange", "e"}, {"routing_key", "k"}}));
  EXPECT_EQ(ex.exchange, "e");
  EXPECT_EQ(ex.routing_key, "k");
  EXPECT_EQ(r.Resolve("x", Json::MakeObject({{"priority", 5}})).priority, 5);
}

TEST(Router, ParsesRouteFlags) {
  const auto rule = cw::canvas::ParseRouteFlag("pyside.*=python");
  EXPECT_EQ(rule.pattern, "pyside.*");
  EXPECT_EQ(rule.queue, "python");
  EXPECT_THROW(cw::canvas::ParseRouteFlag("nope"), std::invalid_argument);
  EXPECT_THROW(cw::canvas::ParseRouteFlag("=q"), std::invalid_argument);
}

}  // namespace

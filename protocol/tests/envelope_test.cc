// kombu's envelope: what a consumer reads before the body (delivery tag, routing, priority).
#include <gtest/gtest.h>

#include <string>
#include <utility>

#include "cw/protocol/task_message.h"

namespace cw::protocol {
namespace {

TEST(ParseEnvelope, RefusesTextThatIsNotAJsonObject) {
  std::string error;
  EXPECT_FALSE(ParseEnvelope("not json", &error));
  EXPECT_NE(error.find("offset"), std::string::npos) << error;
  EXPECT_FALSE(ParseEnvelope("[1, 2]", &error));
  EXPECT_NE(error.find("list"), std::string::npos) << error;
  EXPECT_FALSE(ParseEnvelope("", &error));
  EXPECT_FALSE(ParseEnvelope(std::string(100000, '{'), &error));
  EXPECT_FALSE(ParseEnvelope("{\"body\": \"\xff\"}", &error));
  EXPECT_TRUE(ParseEnvelope("{}", nullptr).has_value());  // the error pointer is optional
}

TEST(ParseEnvelope, ToleratesMissingAndMistypedProperties) {
  std::string error;
  auto env = ParseEnvelope("{}", &error);
  ASSERT_TRUE(env) << error;
  EXPECT_EQ(env->delivery_tag, "");
  EXPECT_EQ(env->priority, 0);
  env = ParseEnvelope(
      R"({"properties": {"delivery_tag": 5, "delivery_info": [], "priority": "5"}})", &error);
  ASSERT_TRUE(env) << error;
  EXPECT_EQ(env->delivery_tag, "");
  EXPECT_EQ(env->routing_key, "");
  EXPECT_EQ(env->priority, 0);
  EXPECT_EQ(ParseEnvelope(R"({"properties": 7})", &error)->priority, 0);
}

TEST(ParseEnvelope, ClampsPriorityToZeroToNine) {
  const std::pair<const char*, int> cases[] = {
      {"42", 9}, {"-3", 0}, {"4.5", 0}, {"null", 0}, {"7", 7}};
  for (const auto& [value, expected] : cases) {
    const auto env =
        ParseEnvelope(std::string(R"({"properties": {"priority": )") + value + "}}", nullptr);
    ASSERT_TRUE(env);
    EXPECT_EQ(env->priority, expected) << value;
  }
}

}  // namespace
}  // namespace cw::protocol

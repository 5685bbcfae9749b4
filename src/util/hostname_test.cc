#include "util/hostname.h"

#include <gtest/gtest.h>

namespace cw::util {
namespace {

TEST(NodeName, ExpandsCeleryPercentCodes) {
  EXPECT_EQ(ExpandNodeName("celery@%h", "box.example.com"), "celery@box.example.com");
  EXPECT_EQ(ExpandNodeName("w1@%n", "box.example.com"), "w1@box");
  EXPECT_EQ(ExpandNodeName("w1@%d", "box.example.com"), "w1@example.com");
  EXPECT_EQ(ExpandNodeName("a%%b@%h", "box"), "a%b@box");
}

TEST(NodeName, AddsHostnameWhenNoAtSign) {
  EXPECT_EQ(ExpandNodeName("w1", "box"), "w1@box");
}

TEST(NodeName, HostnameIsNotEmpty) { EXPECT_FALSE(Hostname().empty()); }

}  // namespace
}  // namespace cw::util

#include "cw/protocol/base64.h"

#include <gtest/gtest.h>

#include <string>

namespace cw::protocol {
namespace {

TEST(Base64, EncodesTheRfc4648Vectors) {
  EXPECT_EQ(Base64Encode(""), "");
  EXPECT_EQ(Base64Encode("f"), "Zg==");
  EXPECT_EQ(Base64Encode("fo"), "Zm8=");
  EXPECT_EQ(Base64Encode("foo"), "Zm9v");
  EXPECT_EQ(Base64Encode("foob"), "Zm9vYg==");
  EXPECT_EQ(Base64Encode("fooba"), "Zm9vYmE=");
  EXPECT_EQ(Base64Encode("foobar"), "Zm9vYmFy");
}

TEST(Base64, DecodesWhatItEncodesForEveryByteValue) {
  std::string bytes;
  for (int i = 0; i < 256; ++i) bytes.push_back(static_cast<char>(i));
  for (size_t len = 0; len <= bytes.size(); len += 37) {
    std::string out;
    ASSERT_TRUE(Base64Decode(Base64Encode(bytes.substr(0, len)), &out));
    EXPECT_EQ(out, bytes.substr(0, len));
  }
  EXPECT_EQ(Base64Encode(std::string("\xff\xfe\x00", 3)), "//4A");
}

TEST(Base64, DecodesACapturedCeleryBody) {
  std::string out;
  ASSERT_TRUE(
      Base64Decode("W1syLCAyXSwge30sIHsiY2FsbGJhY2tzIjogbnVsbCwgImVycmJhY2tzIjogbnVsbCwgImNoYWluIjo"
                   "gbnVsbCwgImNob3JkIjogbnVsbH1d",
                   &out));
  EXPECT_EQ(out,
            R"([[2, 2], {}, {"callbacks": null, "errbacks": null, "chain": null, "chord": null}])");
}

TEST(Base64, SkipsAsciiWhitespace) {
  std::string out;
  ASSERT_TRUE(Base64Decode(" Zm9v\r\nYmFy\t", &out));
  EXPECT_EQ(out, "foobar");
  ASSERT_TRUE(Base64Decode("Zg =\n=", &out));
  EXPECT_EQ(out, "f");
}

// Whole quads of plain symbols take a fast path; whatever follows them must still be read as
// the general loop reads it: whitespace, padding, a bad byte after good quads.
TEST(Base64, ReadsWhatFollowsTheFastQuadsAsTheGeneralLoopDoes) {
  std::string out;
  ASSERT_TRUE(Base64Decode("Zm9vYmFyZg==", &out));
  EXPECT_EQ(out, "foobarf");
  ASSERT_TRUE(Base64Decode("Zm9vYmFy Zm9v\nYg==", &out));
  EXPECT_EQ(out, "foobarfoob");
  ASSERT_TRUE(Base64Decode("Zm9vYm Fy", &out));
  EXPECT_EQ(out, "foobar");
  out = "stale";
  EXPECT_FALSE(Base64Decode("Zm9vYmFyZm*v", &out));
  EXPECT_TRUE(out.empty());
  EXPECT_FALSE(Base64Decode("Zm9vYmFyZg", &out));
  EXPECT_TRUE(out.empty());
  EXPECT_FALSE(Base64Decode("Zm9vYmFyZg==Zm9v", &out));
}

TEST(Base64, RejectsCharactersOutsideTheStandardAlphabet) {
  std::string out = "stale";
  EXPECT_FALSE(Base64Decode("Zm9*", &out));
  EXPECT_TRUE(out.empty());
  EXPECT_FALSE(Base64Decode("Zm-_", &out));  // urlsafe alphabet
  EXPECT_FALSE(Base64Decode("Zm9v\xc3\xa9", &out));
}

TEST(Base64, RejectsBadPadding) {
  std::string out;
  EXPECT_FALSE(Base64Decode("Zg", &out));    // missing padding
  EXPECT_FALSE(Base64Decode("Zg=", &out));   // short padding
  EXPECT_FALSE(Base64Decode("Z===", &out));  // padding too early
  EXPECT_FALSE(Base64Decode("=Zg=", &out));
  EXPECT_FALSE(Base64Decode("Zg=a", &out));      // data after padding in a quad
  EXPECT_FALSE(Base64Decode("Zg==Zg==", &out));  // data after the last quad
  EXPECT_FALSE(Base64Decode("Zm9v=", &out));
  EXPECT_TRUE(Base64Decode("", &out));
  EXPECT_TRUE(out.empty());
}

}  // namespace
}  // namespace cw::protocol

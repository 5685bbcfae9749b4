#include "cw/protocol/python_repr.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <string>

#include "fixtures.h"

namespace cw::protocol {
namespace {

TEST(PyRepr, PrintsScalarsAsPython) {
  EXPECT_EQ(PyRepr(Json()), "None");
  EXPECT_EQ(PyRepr(Json(true)), "True");
  EXPECT_EQ(PyRepr(Json(false)), "False");
  EXPECT_EQ(PyRepr(Json(-12)), "-12");
  EXPECT_EQ(PyRepr(Json(2.0)), "2.0");
  EXPECT_EQ(PyRepr(Json(std::numeric_limits<double>::quiet_NaN())), "nan");
}

TEST(PyRepr, PrintsContainers) {
  EXPECT_EQ(PyRepr(Json::Parse(R"([1, "a", null, [], {}])")), "[1, 'a', None, [], {}]");
  EXPECT_EQ(PyRepr(Json::Parse(R"({"k": [1, 2.5, null, true], "j": {"x": false}})")),
            "{'k': [1, 2.5, None, True], 'j': {'x': False}}");
}

TEST(PyRepr, MatchesTheKwargsreprCeleryWroteForUnicodeKwargs) {
  const Json env = Json::Parse(
      testing::ReadFixture("protocol/fixtures/celery-5.2.6/kwargs_unicode.message.json"));
  const Json kwargs = Json::Parse(
      R"({"name": "Zo\u00eb", "emoji": "\ud83d\ude80", "nested": {"list": [1, 2.5, null, true]}})");
  EXPECT_EQ(PyRepr(kwargs), env["headers"]["kwargsrepr"].as_string());
}

TEST(PyStrRepr, ChoosesQuotesLikePython) {
  EXPECT_EQ(PyStrRepr("plain"), "'plain'");
  EXPECT_EQ(PyStrRepr("it's"), "\"it's\"");
  EXPECT_EQ(PyStrRepr("say \"hi\""), "'say \"hi\"'");
  EXPECT_EQ(PyStrRepr("it's \"x\""), "'it\\'s \"x\"'");
}

TEST(PyStrRepr, EscapesControlsAndKeepsPrintableUnicode) {
  EXPECT_EQ(PyStrRepr("a\\b\n\t\r"), "'a\\\\b\\n\\t\\r'");
  EXPECT_EQ(PyStrRepr(std::string("\x01\x7f\0", 3)), "'\\x01\\x7f\\x00'");
  EXPECT_EQ(PyStrRepr("Zo\xc3\xab \xf0\x9f\x9a\x80"), "'Zo\xc3\xab \xf0\x9f\x9a\x80'");
  // Unprintable non-ASCII: C1 control, no-break space, zero-width space, private use.
  EXPECT_EQ(PyStrRepr("\xc2\x85\xc2\xa0\xe2\x80\x8b\xee\x80\x80"), "'\\x85\\xa0\\u200b\\ue000'");
  EXPECT_EQ(PyStrRepr("\xf3\xb0\x80\x80"), "'\\U000f0000'");
}

TEST(PyStrRepr, ShowsUndecodableBytesAsReplacementCharacters) {
  EXPECT_EQ(PyStrRepr("a\xff"), "'a\xef\xbf\xbd'");
}

TEST(PyReprTruncated, CutsLongTextAndAppendsDots) {
  const Json args = Json::Parse("[1, 2, 3]");
  EXPECT_EQ(PyReprTruncated(args, 100), "[1, 2, 3]");
  EXPECT_EQ(PyReprTruncated(args, 9), "[1, 2, 3]");
  EXPECT_EQ(PyReprTruncated(args, 4), "[1, ...");
  // Counts characters, not bytes: never splits the UTF-8 of 'ë'.
  EXPECT_EQ(PyReprTruncated(Json("\xc3\xab\xc3\xab"), 2), "'\xc3\xab...");
}

TEST(PyFloatRepr, MatchesPythonForTheUsualSuspects) {
  EXPECT_EQ(PyFloatRepr(0.1), "0.1");
  EXPECT_EQ(PyFloatRepr(1e-05), "1e-05");
  EXPECT_EQ(PyFloatRepr(0.0001), "0.0001");
  EXPECT_EQ(PyFloatRepr(1e16), "1e+16");
  EXPECT_EQ(PyFloatRepr(1e15), "1000000000000000.0");
  EXPECT_EQ(PyFloatRepr(123456789.123), "123456789.123");
  EXPECT_EQ(PyFloatRepr(-0.0), "-0.0");
  EXPECT_EQ(PyFloatRepr(5e-324), "5e-324");
  EXPECT_EQ(PyFloatRepr(1.7976931348623157e+308), "1.7976931348623157e+308");
  EXPECT_EQ(PyFloatRepr(2.0), "2.0");
  EXPECT_EQ(PyFloatRepr(std::numeric_limits<double>::quiet_NaN()), "nan");
  EXPECT_EQ(PyFloatRepr(std::numeric_limits<double>::infinity()), "inf");
  EXPECT_EQ(PyFloatRepr(-std::numeric_limits<double>::infinity()), "-inf");
}

TEST(PyExceptionRepr, PrintsLikeBaseExceptionRepr) {
  EXPECT_EQ(PyExceptionRepr("ValueError", Json::MakeArray({"boom"})), "ValueError('boom')");
  EXPECT_EQ(PyExceptionRepr("KeyError", Json::MakeArray({"k", 2})), "KeyError('k', 2)");
  EXPECT_EQ(PyExceptionRepr("ValueError", Json::MakeArray()), "ValueError()");
  EXPECT_EQ(PyExceptionRepr("NotRegistered", Json::MakeArray({"tasks.not_registered"})),
            "NotRegistered('tasks.not_registered')");
  EXPECT_EQ(PyExceptionRepr("TimeLimitExceeded", Json::MakeArray({1})), "TimeLimitExceeded(1)");
  EXPECT_EQ(PyExceptionRepr("Outer.Inner", Json::MakeArray({"x"})), "Inner('x')");
  EXPECT_EQ(PyExceptionRepr("Exception", Json("bare")), "Exception('bare')");
}

}  // namespace
}  // namespace cw::protocol

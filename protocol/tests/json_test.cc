#include <cworker/json.h>
#include <gtest/gtest.h>
#include <zlib.h>

#include <cmath>
#include <cstdint>
#include <limits>
#include <map>
#include <string>
#include <vector>

#include "cw/protocol/base64.h"
#include "fixtures.h"

namespace cw {
namespace {

using testing::ListFixtures;
using testing::ReadFixture;
using testing::StripNewline;

std::string Nested(size_t depth, char open, char close) {
  return std::string(depth, open) + std::string(depth, close);
}

TEST(JsonParse, ReadsEveryValueType) {
  const Json j = Json::Parse(R"({"n": null, "t": true, "f": false, "i": -42, "d": 2.5,
                                 "s": "x", "a": [1, "two"], "o": {"k": {}}})");
  ASSERT_TRUE(j.is_object());
  EXPECT_TRUE(j["n"].is_null());
  EXPECT_TRUE(j["t"].as_bool());
  EXPECT_FALSE(j["f"].as_bool());
  EXPECT_EQ(j["i"].as_int(), -42);
  EXPECT_DOUBLE_EQ(j["d"].as_double(), 2.5);
  EXPECT_EQ(j["s"].as_string(), "x");
  EXPECT_EQ(j["a"].size(), 2u);
  EXPECT_EQ(j["a"][1].as_string(), "two");
  EXPECT_TRUE(j["o"]["k"].is_object());
}

TEST(JsonParse, KeepsIntegersThatFitInt64AsInts) {
  EXPECT_EQ(Json::Parse("9223372036854775807").as_int(), std::numeric_limits<int64_t>::max());
  EXPECT_EQ(Json::Parse("-9223372036854775808").as_int(), std::numeric_limits<int64_t>::min());
  EXPECT_TRUE(Json::Parse("-0").is_int());
  EXPECT_TRUE(Json::Parse("1.0").is_double());
  EXPECT_TRUE(Json::Parse("1e2").is_double());
}

TEST(JsonParse, KeepsIntegersBeyondInt64Exactly) {
  const Json big = Json::Parse("[18446744073709551615, -123456789012345678901234567890]");
  ASSERT_TRUE(big[0].is_bigint());
  EXPECT_EQ(big[0].python_type_name(), std::string("int"));
  EXPECT_EQ(big.Dump(), "[18446744073709551615, -123456789012345678901234567890]");
  EXPECT_EQ(big[0].As<uint64_t>(), 18446744073709551615ULL);
  EXPECT_THROW(big[0].As<int64_t>(), JsonError);
  EXPECT_THROW(big[1].As<uint64_t>(), JsonError);
  EXPECT_EQ(big[1].as_double(), -1.2345678901234568e29);
  EXPECT_TRUE(Json::Parse("9223372036854775807").is_int());
}

TEST(JsonParse, ReadsPythonNanAndInfinityTokens) {
  const Json j = Json::Parse("[NaN, Infinity, -Infinity]");
  EXPECT_TRUE(std::isnan(j[0].as_double()));
  EXPECT_EQ(j[1].as_double(), std::numeric_limits<double>::infinity());
  EXPECT_EQ(j[2].as_double(), -std::numeric_limits<double>::infinity());
  EXPECT_EQ(j.Dump(), "[NaN, Infinity, -Infinity]");
  // RapidJSON also knows these spellings; Python's json does not.
  EXPECT_THROW(Json::Parse("Inf"), JsonError);
  EXPECT_THROW(Json::Parse("-NaN"), JsonError);
}

TEST(JsonParse, RoundsDecimalTextCorrectly) {
  EXPECT_EQ(Json::Parse("0.1").as_double(), 0.1);
  EXPECT_EQ(Json::Parse("2.2250738585072011e-308").as_double(), 2.2250738585072011e-308);
  EXPECT_EQ(Json::Parse("0.30000000000000004").as_double(), 0.1 + 0.2);
}

TEST(JsonParse, HugeExponentsErrorOrUnderflowWithoutCrashing) {
  // Python's json never writes these (it writes Infinity); overflow is refused, underflow is 0.
  EXPECT_THROW(Json::Parse("1e400"), JsonError);
  EXPECT_TRUE(Json::Parse("[" + std::string(300, '9') + "]")[0].is_bigint());
  // RapidJSON refuses integer literals beyond double's range (~309 digits) before we see them.
  EXPECT_THROW(Json::Parse("[" + std::string(400, '9') + "]"), JsonError);
  const Json tiny = Json::Parse("[1e-400, -1e-400, 1e-99999999999]");
  EXPECT_EQ(tiny[0].as_double(), 0.0);
  EXPECT_TRUE(std::signbit(tiny[1].as_double()));
  EXPECT_EQ(tiny[2].as_double(), 0.0);
}

TEST(JsonParse, DecodesUnicodeEscapesAndSurrogatePairs) {
  EXPECT_EQ(Json::Parse(R"("Zo\u00eb")").as_string(), "Zo\xc3\xab");
  EXPECT_EQ(Json::Parse(R"("\ud83d\ude80")").as_string(), "\xf0\x9f\x9a\x80");
  EXPECT_EQ(Json::Parse(R"("a\u0000b")").as_string(), std::string("a\0b", 3));
  EXPECT_THROW(Json::Parse(R"("\ud83d")"), JsonError);
  EXPECT_THROW(Json::Parse(R"("\ud83dx")"), JsonError);
}

TEST(JsonParse, KeepsObjectOrderAndLetsTheLastDuplicateWinAtTheFirstPosition) {
  const Json j = Json::Parse(R"({"b": 1, "a": 2, "b": 3})");
  ASSERT_EQ(j.size(), 2u);
  EXPECT_EQ(j.as_object()[0].first, "b");
  EXPECT_EQ(j.as_object()[0].second.as_int(), 3);
  EXPECT_EQ(j.Dump(), R"({"b": 3, "a": 2})");
  // Same rule for an object of many keys.
  std::string text = "{";
  for (int i = 0; i < 40; ++i)
    text += "\"k" + std::to_string(i % 20) + "\": " + std::to_string(i) + ", ";
  text += "\"end\": 0}";
  const Json big = Json::Parse(text);
  ASSERT_EQ(big.size(), 21u);
  EXPECT_EQ(big.as_object()[0].first, "k0");
  EXPECT_EQ(big["k0"].as_int(), 20);
  EXPECT_EQ(big["k19"].as_int(), 39);
}

// Keys are compared only when their (length, last byte) signatures meet: keys that share one
// stay distinct, and a key repeated three times keeps its last value.
TEST(JsonParse, TellsKeysWithTheSameSignatureApart) {
  const Json j = Json::Parse(R"({"ab": 1, "cb": 2, "ab": 3, "xb": 4, "ab": 5, "cb": 6})");
  EXPECT_EQ(j.Dump(), R"({"ab": 5, "cb": 6, "xb": 4})");
  const Json e = Json::Parse(R"({"": 1, "a": 2, "": 3})");
  EXPECT_EQ(e.Dump(), R"({"": 3, "a": 2})");
}

TEST(JsonParse, AcceptsNestingUpTo512Levels) {
  EXPECT_NO_THROW(Json::Parse(Nested(512, '[', ']')));
  EXPECT_THROW(Json::Parse(Nested(513, '[', ']')), JsonError);
}

TEST(JsonParse, RefusesHostileNestingWithoutOverflowingTheStack) {
  try {
    Json::Parse(std::string(100000, '['));
    FAIL() << "no error";
  } catch (const JsonError& e) {
    EXPECT_NE(std::string(e.what()).find("nesting"), std::string::npos) << e.what();
  }
  std::string objects;
  for (int i = 0; i < 100000; ++i) objects += "{\"a\":";
  EXPECT_THROW(Json::Parse(objects), JsonError);
}

TEST(JsonParse, ReportsTheOffsetOfAnError) {
  try {
    Json::Parse("[1, 2,, 3]");
    FAIL() << "no error";
  } catch (const JsonError& e) {
    EXPECT_NE(std::string(e.what()).find("offset 6"), std::string::npos) << e.what();
  }
}

TEST(JsonParse, RejectsTrailingGarbageButNotTrailingWhitespace) {
  EXPECT_NO_THROW(Json::Parse(" [1] \n\t\r"));
  EXPECT_THROW(Json::Parse("[1] x"), JsonError);
  EXPECT_THROW(Json::Parse("[1][2]"), JsonError);
  EXPECT_THROW(Json::Parse(std::string("[1]\0", 4)), JsonError);
  EXPECT_THROW(Json::Parse(""), JsonError);
  EXPECT_THROW(Json::Parse("   "), JsonError);
}

TEST(JsonParse, RejectsInvalidUtf8AndRawControlCharacters) {
  EXPECT_THROW(Json::Parse("\"\xff\""), JsonError);
  EXPECT_THROW(Json::Parse("\"\xc3\""), JsonError);
  EXPECT_THROW(Json::Parse("\"a\nb\""), JsonError);
}

// ASCII input skips RapidJSON's UTF-8 validation; a non-ASCII byte anywhere (in the 8-byte
// words or the tail the ASCII check reads) must bring it back.
TEST(JsonParse, ValidatesUtf8WhereverTheNonAsciiByteIs) {
  const std::string pad(40, 'a');
  for (size_t at = 0; at <= pad.size(); ++at) {
    std::string bad = pad;
    bad.insert(at, "\xff");
    EXPECT_THROW(Json::Parse("\"" + bad + "\""), JsonError) << "0xff at " << at;
    std::string good = pad;
    good.insert(at, "\xc3\xa9");
    EXPECT_EQ(Json::Parse("\"" + good + "\"").as_string(), good) << "e-acute at " << at;
  }
  EXPECT_EQ(Json::Parse(R"(["\u00e9", 1])").At(0).as_string(), "\xc3\xa9");
}

TEST(JsonDump, UsesPythonSeparators) {
  const Json j = Json::Parse(R"({"a":[1,2,{"b":null}],"c":{},"d":[]})");
  EXPECT_EQ(j.Dump(), R"({"a": [1, 2, {"b": null}], "c": {}, "d": []})");
  EXPECT_EQ(Json(true).Dump(), "true");
  EXPECT_EQ(Json().Dump(), "null");
  EXPECT_EQ(Json(int64_t{-7}).Dump(), "-7");
}

TEST(JsonDump, EscapesLikeEnsureAscii) {
  const std::string text =
      std::string("\0\x1f\x7f\"\\/", 6) + "\xc3\xa9\xe2\x82\xac\xf0\x9d\x84\x9e" + "\b\f\n\r\t";
  EXPECT_EQ(Json(text).Dump(), R"("\u0000\u001f\u007f\"\\/\u00e9\u20ac\ud834\udd1e\b\f\n\r\t")");
}

TEST(JsonDump, WritesReplacementCharacterForEachInvalidUtf8Byte) {
  EXPECT_EQ(Json("a\xff"
                 "b")
                .Dump(),
            R"("a\ufffdb")");
  EXPECT_EQ(Json("\xe2\x82").Dump(), R"("\ufffd\ufffd")");
  EXPECT_EQ(Json("\xc0\xaf").Dump(), R"("\ufffd\ufffd")");                      // overlong '/'
  EXPECT_EQ(Json("\xf4\x90\x80\x80").Dump(), R"("\ufffd\ufffd\ufffd\ufffd")");  // > U+10FFFF
}

TEST(JsonDump, WritesALoneSurrogateBackAsPythonDoes) {
  EXPECT_EQ(Json::Parse(R"("\udc00")").Dump(), R"("\udc00")");
}

TEST(JsonDump, FormatsFloatsAsPythonRepr) {
  const std::vector<std::pair<double, std::string>> table = {
      {0.1, "0.1"},
      {1e-05, "1e-05"},
      {0.0001, "0.0001"},
      {0.00012345, "0.00012345"},
      {1e16, "1e+16"},
      {1e15, "1000000000000000.0"},
      {1.5e16, "1.5e+16"},
      {1e22, "1e+22"},
      {123456789.123, "123456789.123"},
      {-0.0, "-0.0"},
      {0.0, "0.0"},
      {5e-324, "5e-324"},
      {1.7976931348623157e+308, "1.7976931348623157e+308"},
      {2.0, "2.0"},
      {100.0, "100.0"},
      {0.1 + 0.2, "0.30000000000000004"},
      {1.0 / 3.0, "0.3333333333333333"},
      {-1.5e-07, "-1.5e-07"},
      {12345678901234567.0, "1.2345678901234568e+16"},
      {9999999999999998.0, "9999999999999998.0"},
      {3.0000000000000004e-05, "3.0000000000000004e-05"},
  };
  for (const auto& [value, text] : table) EXPECT_EQ(Json(value).Dump(), text) << text;
}

TEST(JsonAccess, ThrowsJsonErrorWithPythonTypeNames) {
  const Json j = Json::Parse(R"({"s": "x", "a": [1]})");
  try {
    j["s"].as_int();
    FAIL() << "no error";
  } catch (const JsonError& e) {
    EXPECT_STREQ(e.what(), "expected int, got str");
  }
  EXPECT_THROW(j["missing"], JsonError);
  EXPECT_THROW(j["a"][1], JsonError);
  EXPECT_THROW(j["a"].as_object(), JsonError);
  EXPECT_EQ(j.Find("missing"), nullptr);
  EXPECT_EQ(j["a"].Find("x"), nullptr);
  EXPECT_DOUBLE_EQ(j["a"][0].as_double(), 1.0);
  EXPECT_STREQ(Json().python_type_name(), "NoneType");
  EXPECT_STREQ(Json(1.5).python_type_name(), "float");
  EXPECT_STREQ(Json::MakeArray().python_type_name(), "list");
  EXPECT_STREQ(Json::MakeObject().python_type_name(), "dict");
}

TEST(JsonAccess, ConvertsWithFromJsonRules) {
  EXPECT_EQ(Json(5).As<int>(), 5);
  EXPECT_EQ(Json::Parse("[1.5, 2]").As<std::vector<double>>(), (std::vector<double>{1.5, 2.0}));
  const auto m = Json::Parse(R"({"a": "x"})").As<std::map<std::string, std::string>>();
  EXPECT_EQ(m.at("a"), "x");
  try {
    Json("x").As<int>();
    FAIL() << "no error";
  } catch (const JsonError& e) {
    EXPECT_STREQ(e.what(), "expected int, got str");
  }
  try {
    Json(300).As<uint8_t>();
    FAIL() << "no error";
  } catch (const JsonError& e) {
    EXPECT_STREQ(e.what(), "expected int in range, got int");
  }
}

TEST(JsonBuild, SetReplacesInPlaceAndPushAppends) {
  Json o;
  o.Set("a", 1);
  o.Set("b", 2);
  o.Set("a", 3);
  EXPECT_EQ(o.Dump(), R"({"a": 3, "b": 2})");
  Json a;
  a.Push(1);
  a.Push("x");
  EXPECT_EQ(a.Dump(), R"([1, "x"])");
  EXPECT_THROW(a.Set("k", 1), JsonError);
  EXPECT_THROW(o.Push(1), JsonError);
  EXPECT_EQ(Json::MakeObject({{"k", 1}, {"k", 2}}).Dump(), R"({"k": 2})");
  EXPECT_EQ(Json::MakeArray({1, "two", nullptr}).Dump(), R"([1, "two", null])");
}

TEST(JsonBuild, SetAndPushReturnTheStoredValue) {
  Json doc;
  Json& props = doc.Set("properties", Json::Object{});
  props.Set("delivery_tag", "t");
  doc.Set("body", "b");
  Json& replaced = doc.Set("properties", Json::Object{});
  replaced.Set("priority", 3);
  EXPECT_EQ(doc.Dump(), R"({"properties": {"priority": 3}, "body": "b"})");
  Json list;
  list.Push(Json::Array{}).Push(7);
  EXPECT_EQ(list.Dump(), "[[7]]");
}

// ----- byte-exact round trips of real Celery traffic ------------------------------------------

std::string Inflate(const std::string& in) {
  z_stream zs{};
  EXPECT_EQ(inflateInit(&zs), Z_OK);
  zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
  zs.avail_in = static_cast<uInt>(in.size());
  std::string out(1 << 20, '\0');
  zs.next_out = reinterpret_cast<Bytef*>(out.data());
  zs.avail_out = static_cast<uInt>(out.size());
  EXPECT_EQ(inflate(&zs, Z_FINISH), Z_STREAM_END);
  out.resize(zs.total_out);
  inflateEnd(&zs);
  return out;
}

const char* const kVersions[] = {"protocol/fixtures/celery-5.2.6", "protocol/fixtures/celery-5.5"};

TEST(JsonRoundTrip, CapturedEnvelopesDumpToTheSameBytes) {
  int checked = 0;
  for (const char* dir : kVersions) {
    for (const std::string& name : ListFixtures(dir, ".message.json")) {
      const std::string text(StripNewline(ReadFixture(std::string(dir) + "/" + name)));
      EXPECT_EQ(Json::Parse(text).Dump(), text) << dir << "/" << name;
      ++checked;
    }
  }
  EXPECT_GE(checked, 40);
}

TEST(JsonRoundTrip, CapturedTaskBodiesDumpToTheSameBytes) {
  int checked = 0;
  for (const char* dir : kVersions) {
    for (const std::string& name : ListFixtures(dir, ".message.json")) {
      const Json env = Json::Parse(ReadFixture(std::string(dir) + "/" + name));
      if (env["content-type"].as_string() != "application/json") continue;  // pickle
      std::string body;
      ASSERT_TRUE(protocol::Base64Decode(env["body"].as_string(), &body)) << name;
      if (env["headers"].Find("compression") != nullptr) body = Inflate(body);
      EXPECT_EQ(Json::Parse(body).Dump(), body) << dir << "/" << name;
      ++checked;
    }
  }
  EXPECT_GE(checked, 40);
}

TEST(JsonRoundTrip, CapturedResultRecordsDumpToTheSameBytes) {
  const auto names = ListFixtures("protocol/fixtures/results", ".json");
  ASSERT_GE(names.size(), 10u);
  for (const std::string& name : names) {
    const std::string text = ReadFixture("protocol/fixtures/results/" + name);
    EXPECT_EQ(Json::Parse(text).Dump(), text) << name;
  }
}

}  // namespace
}  // namespace cw

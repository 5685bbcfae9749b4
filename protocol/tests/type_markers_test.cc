// kombu >= 5.3 wraps datetime, Decimal, UUID and bytes values in {"__type__", "__value__"}.
#include <gtest/gtest.h>

#include <utility>

#include "cw/protocol/task_message.h"

namespace cw::protocol {
namespace {

Json Marker(const char* type, Json value) {
  return Json::MakeObject({{"__type__", type}, {"__value__", std::move(value)}});
}

TEST(TypeMarkers, EveryKnownMarkerBecomesItsPlainValue) {
  Json v = Json::MakeArray({
      Marker("datetime", "2024-01-02T03:04:05+00:00"),
      Marker("date", "2024-01-02"),
      Marker("time", "03:04:05"),
      Marker("decimal", "1.5"),
      Marker("uuid", Json::MakeObject({{"hex", "0123456789ABCDEF0123456789abcdef"}})),
      Marker("uuid", "01234567-89ab-cdef-0123-456789abcdef"),
      Marker("bytes", "raw text"),
      Marker("base64", "aGk="),
  });
  DecodeTypeMarkers(v);
  EXPECT_EQ(v.Dump(), R"(["2024-01-02T03:04:05+00:00", "2024-01-02", "03:04:05", "1.5", )"
                      R"("01234567-89ab-cdef-0123-456789abcdef", )"
                      R"("01234567-89ab-cdef-0123-456789abcdef", "raw text", "hi"])");
}

TEST(TypeMarkers, UnknownOrMalformedMarkersStayObjects) {
  const Json cases[] = {
      Marker("set", Json::MakeArray({1})),
      Marker("uuid", Json::MakeObject({{"hex", "abc"}})),
      Marker("base64", "!!"),
      Marker("datetime", 5),
      Json::MakeObject({{"__type__", 1}, {"__value__", "x"}}),
      Json::MakeObject({{"__type__", "decimal"}, {"__value__", "1"}, {"extra", 1}}),
      Json::MakeObject({{"__type__", "decimal"}}),
  };
  for (const Json& c : cases) {
    Json v = c;
    DecodeTypeMarkers(v);
    EXPECT_EQ(v, c) << c.Dump();
  }
}

TEST(TypeMarkers, AreFoundAtAnyDepth) {
  const Json when = Json::MakeObject({{"when", Marker("datetime", "2024-01-02")}});
  const Json keep = Json::MakeObject(
      {{"__type__", "decimal"}, {"__value__", "1"}, {"d", Marker("decimal", "2")}});
  Json nested = Json::MakeObject({{"a", Json::MakeArray({when})}, {"keep", keep}});
  DecodeTypeMarkers(nested);
  EXPECT_EQ(nested.Dump(), R"({"a": [{"when": "2024-01-02"}], )"
                           R"("keep": {"__type__": "decimal", "__value__": "1", "d": "2"}})");
}

}  // namespace
}  // namespace cw::protocol

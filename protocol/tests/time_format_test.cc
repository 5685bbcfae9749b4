#include "cw/protocol/time_format.h"

#include <gtest/gtest.h>

#include <chrono>
#include <string>

namespace cw::protocol {
namespace {

using namespace std::chrono;
using namespace std::chrono_literals;

Clock::time_point At(int y, unsigned mo, unsigned d, hours h, minutes mi, seconds s,
                     nanoseconds frac = 0ns) {
  const sys_days date{year{y} / month{mo} / day{d}};
  return Clock::time_point(
      duration_cast<Clock::duration>(date.time_since_epoch() + h + mi + s + frac));
}

TEST(FormatDateDone, WritesNaiveUtcWithMicroseconds) {
  EXPECT_EQ(FormatDateDone(At(2026, 11, 24, 3h, 38min, 20s, 468898us)),
            "2026-11-24T03:38:20.468898");
  EXPECT_EQ(FormatDateDone(At(2026, 1, 2, 3h, 4min, 5s, 1us)), "2026-01-02T03:04:05.000001");
}

TEST(FormatDateDone, DropsTheFractionWhenMicrosecondsAreZero) {
  EXPECT_EQ(FormatDateDone(Clock::time_point{}), "1970-01-01T00:00:00");
  EXPECT_EQ(FormatDateDone(At(2024, 2, 29, 23h, 59min, 59s, 999ns)), "2024-02-29T23:59:59");
}

TEST(FormatDateDone, TruncatesSubMicrosecondsAndHandlesTimesBeforeTheEpoch) {
  EXPECT_EQ(FormatDateDone(At(2026, 11, 24, 0h, 0min, 0s, 999999999ns)),
            "2026-11-24T00:00:00.999999");
  EXPECT_EQ(FormatDateDone(Clock::time_point{} - 1us), "1969-12-31T23:59:59.999999");
}

TEST(FormatIsoUtc, AppendsTheUtcOffset) {
  EXPECT_EQ(FormatIsoUtc(At(2026, 11, 24, 3h, 38min, 24s, 876867us)),
            "2026-11-24T03:38:24.876867+00:00");
  EXPECT_EQ(FormatIsoUtc(Clock::time_point{}), "1970-01-01T00:00:00+00:00");
}

TEST(ParseIsoTime, ReadsWhatCeleryWrites) {
  const auto expected = At(2026, 11, 24, 3h, 38min, 24s, 876867us);
  EXPECT_EQ(ParseIsoTime("2026-11-24T03:38:24.876867+00:00"), expected);
  EXPECT_EQ(ParseIsoTime("2026-11-24T03:38:24.876867Z"), expected);
  EXPECT_EQ(ParseIsoTime("2026-11-24T03:38:24.876867"), expected);  // naive: UTC
  EXPECT_EQ(ParseIsoTime("2026-11-24 03:38:24.876867"), expected);
  EXPECT_EQ(ParseIsoTime("2026-11-24T03:38:20"), At(2026, 11, 24, 3h, 38min, 20s));
  EXPECT_EQ(ParseIsoTime("2026-11-24T03:38"), At(2026, 11, 24, 3h, 38min, 0s));
}

TEST(ParseIsoTime, AppliesOffsets) {
  const auto utc = At(2026, 11, 24, 1h, 0min, 0s);
  EXPECT_EQ(ParseIsoTime("2026-11-24T03:00:00+02:00"), utc);
  EXPECT_EQ(ParseIsoTime("2026-11-24T03:00:00+0200"), utc);
  EXPECT_EQ(ParseIsoTime("2026-11-23T19:30:00-05:30"), utc);
  EXPECT_EQ(ParseIsoTime("2026-11-24T00:30:00.5-00:30"), utc + 500ms);
}

TEST(ParseIsoTime, ReadsFractionsOfOneToNineDigits) {
  const auto base = At(2026, 11, 24, 3h, 0min, 0s);
  EXPECT_EQ(ParseIsoTime("2026-11-24T03:00:00.5"), base + 500ms);
  EXPECT_EQ(ParseIsoTime("2026-11-24T03:00:00.123"), base + 123ms);
  EXPECT_EQ(ParseIsoTime("2026-11-24T03:00:00.123456789"), base + 123456789ns);
  EXPECT_EQ(ParseIsoTime("2026-11-24T03:00:00.1234567890"), std::nullopt);
}

TEST(ParseIsoTime, RoundTripsFormattedTimes) {
  const auto t = At(2031, 7, 1, 12h, 0min, 1s, 42us);
  EXPECT_EQ(ParseIsoTime(FormatIsoUtc(t)), t);
  EXPECT_EQ(ParseIsoTime(FormatDateDone(t)), t);
}

TEST(ParseIsoTime, ReturnsNulloptOnMalformedText) {
  for (const char* bad : {"",
                          "garbage",
                          "2026",
                          "2026-11-24",
                          "2026-11-24T",
                          "2026-1-24T03:00:00",
                          "2026-13-01T00:00:00",
                          "2026-02-30T00:00:00",
                          "2023-02-29T00:00:00",
                          "2026-11-24T24:00:00",
                          "2026-11-24T03:60:00",
                          "2026-11-24T03:00:60",
                          "2026-11-24T03:00:00.",
                          "2026-11-24T03:00:00+25:00",
                          "2026-11-24T03:00:00+02",
                          "2026-11-24T03:00:00+02:0",
                          "2026-11-24T03:00:00Zjunk",
                          "2026-11-24T03:00:00 ",
                          "2026-11-24x03:00:00",
                          "0000-01-01T00:00:00",
                          "-026-11-24T03:00:00",
                          "2026-11-24T03:00:00.-5",
                          "2026-11-24T03:0a:00"}) {
    EXPECT_EQ(ParseIsoTime(bad), std::nullopt) << bad;
  }
  EXPECT_EQ(ParseIsoTime(std::string("2026-11-24T03:00:00\0", 20)), std::nullopt);
}

TEST(ParseIsoTime, RejectsYearsTheClockCannotHold) {
  EXPECT_EQ(ParseIsoTime("9999-12-31T23:59:59"), std::nullopt);
  EXPECT_EQ(ParseIsoTime("1000-01-01T00:00:00"), std::nullopt);
  EXPECT_NE(ParseIsoTime("2200-01-01T00:00:00"), std::nullopt);
}

}  // namespace
}  // namespace cw::protocol

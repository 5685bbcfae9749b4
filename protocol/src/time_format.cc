// ISO-8601 text for eta/expires/date_done, the way Python's datetime writes and reads it.
#include "cw/protocol/time_format.h"

#include <cstdint>
#include <cstdio>
#include <limits>

namespace cw::protocol {

namespace {

using std::chrono::days;
using std::chrono::microseconds;
using std::chrono::nanoseconds;
using std::chrono::seconds;

// "YYYY-MM-DDTHH:MM:SS" plus ".ffffff" unless the microseconds are 0 (datetime.isoformat()).
// Writes the naive isoformat into `buf` (48 bytes) and returns its length.
size_t FormatNaive(Clock::time_point t, char (&buf)[48]) {
  const auto us = std::chrono::floor<microseconds>(t);
  const auto day = std::chrono::floor<days>(us);
  const std::chrono::year_month_day ymd{day};
  const std::chrono::hh_mm_ss<microseconds> tod{us - day};
  int n =
      std::snprintf(buf, sizeof(buf), "%04d-%02u-%02uT%02d:%02d:%02d", static_cast<int>(ymd.year()),
                    static_cast<unsigned>(ymd.month()), static_cast<unsigned>(ymd.day()),
                    static_cast<int>(tod.hours().count()), static_cast<int>(tod.minutes().count()),
                    static_cast<int>(tod.seconds().count()));
  const auto frac = tod.subseconds().count();
  if (frac != 0) {
    n += std::snprintf(buf + n, sizeof(buf) - static_cast<size_t>(n), ".%06d",
                       static_cast<int>(frac));
  }
  return static_cast<size_t>(n);
}

std::string FormatNaive(Clock::time_point t) {
  char buf[48];
  return std::string(buf, FormatNaive(t, buf));
}

// A cursor over the text; every read checks bounds, so garbage cannot read past the end.
class Cursor {
 public:
  explicit Cursor(std::string_view text) : text_(text) {}
  bool AtEnd() const { return pos_ == text_.size(); }
  char Peek() const { return AtEnd() ? '\0' : text_[pos_]; }
  bool Take(char c) {
    if (Peek() != c) return false;
    ++pos_;
    return true;
  }
  /// Exactly `n` decimal digits.
  bool Digits(int n, int* out) {
    int v = 0;
    for (int i = 0; i < n; ++i) {
      const char c = Peek();
      if (c < '0' || c > '9') return false;
      v = v * 10 + (c - '0');
      ++pos_;
    }
    *out = v;
    return true;
  }

 private:
  std::string_view text_;
  size_t pos_ = 0;
};

}  // namespace

std::string FormatDateDone(Clock::time_point t) { return FormatNaive(t); }

DateDoneText::DateDoneText(Clock::time_point t) : size_(FormatNaive(t, text_)) {}

std::string FormatIsoUtc(Clock::time_point t) { return FormatNaive(t) + "+00:00"; }

std::optional<Clock::time_point> ParseIsoTime(std::string_view text) {
  Cursor c(text);
  int year = 0, month = 0, day = 0, hour = 0, minute = 0, second = 0;
  if (!c.Digits(4, &year) || !c.Take('-') || !c.Digits(2, &month) || !c.Take('-') ||
      !c.Digits(2, &day)) {
    return std::nullopt;
  }
  if (!c.Take('T') && !c.Take(' ')) return std::nullopt;
  if (!c.Digits(2, &hour) || !c.Take(':') || !c.Digits(2, &minute)) return std::nullopt;
  int64_t nanos = 0;
  if (c.Take(':')) {
    if (!c.Digits(2, &second)) return std::nullopt;
    if (c.Take('.')) {
      int digits = 0;
      while (c.Peek() >= '0' && c.Peek() <= '9') {
        if (++digits > 9) return std::nullopt;
        int d = 0;
        c.Digits(1, &d);
        nanos = nanos * 10 + d;
      }
      if (digits == 0) return std::nullopt;
      for (int i = digits; i < 9; ++i) nanos *= 10;
    }
  }
  int offset_minutes = 0;
  if (c.Take('Z')) {
    // UTC
  } else if (c.Peek() == '+' || c.Peek() == '-') {
    const int sign = c.Peek() == '-' ? -1 : 1;
    c.Take(c.Peek());
    int oh = 0, om = 0;
    if (!c.Digits(2, &oh)) return std::nullopt;
    c.Take(':');  // "+HH:MM" and "+HHMM"
    if (!c.Digits(2, &om) || oh > 23 || om > 59) return std::nullopt;
    offset_minutes = sign * (oh * 60 + om);
  }
  if (!c.AtEnd()) return std::nullopt;
  if (hour > 23 || minute > 59 || second > 59 || year < 1) return std::nullopt;

  const std::chrono::year_month_day ymd{std::chrono::year(year),
                                        std::chrono::month(static_cast<unsigned>(month)),
                                        std::chrono::day(static_cast<unsigned>(day))};
  if (!ymd.ok()) return std::nullopt;
  // Whole seconds since the epoch first: years 1..9999 fit easily in int64 seconds, but the
  // nanosecond clock only spans about 1677..2262, so check the range before converting.
  const int64_t day_count = std::chrono::sys_days(ymd).time_since_epoch().count();
  const int64_t secs = day_count * 86400 + hour * 3600 + minute * 60 + second -
                       static_cast<int64_t>(offset_minutes) * 60;
  using Rep = Clock::duration::rep;
  constexpr int64_t kMaxSeconds =
      std::numeric_limits<Rep>::max() / Clock::period::den * Clock::period::num - 1;
  if (secs > kMaxSeconds || secs < -kMaxSeconds) return std::nullopt;
  const auto since_epoch = std::chrono::duration_cast<Clock::duration>(seconds(secs)) +
                           std::chrono::duration_cast<Clock::duration>(nanoseconds(nanos));
  return Clock::time_point(since_epoch);
}

}  // namespace cw::protocol

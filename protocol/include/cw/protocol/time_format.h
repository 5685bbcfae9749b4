// Times on the wire: ISO-8601 text for eta/expires/date_done.
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <string_view>

namespace cw::protocol {

using Clock = std::chrono::system_clock;

/// Celery 5.2's date_done: naive UTC isoformat, "2026-11-24T03:25:03.388304" (the ".ffffff"
/// part is dropped when microseconds are 0, as Python's isoformat does).
std::string FormatDateDone(Clock::time_point t);
/// FormatDateDone's text held in place, for a record written at once (no allocation).
class DateDoneText {
 public:
  explicit DateDoneText(Clock::time_point t);
  std::string_view view() const { return {text_, size_}; }

 private:
  char text_[48];
  size_t size_ = 0;
};
/// Python's datetime.isoformat() with "+00:00", used for eta/expires we publish.
std::string FormatIsoUtc(Clock::time_point t);
/// Parses the ISO forms Celery writes: with "+HH:MM"/"-HH:MM"/"Z" or naive (taken as UTC),
/// with or without fractional seconds, "T" or " " between date and time. nullopt if malformed.
std::optional<Clock::time_point> ParseIsoTime(std::string_view text);

}  // namespace cw::protocol

#include "worker/rate_limit.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>

namespace cw::worker {

std::optional<double> ParseRate(const std::string& text, std::string* error) {
  if (text.empty()) return 0.0;
  const size_t slash = text.find('/');
  const std::string number = text.substr(0, slash);
  const std::string unit = slash == std::string::npos ? "s" : text.substr(slash + 1);
  char* end = nullptr;
  const double n = std::strtod(number.c_str(), &end);
  if (number.empty() || end == nullptr || *end != '\0' || !std::isfinite(n) || n < 0) {
    *error = "could not convert string to float: '" + number + "'";
    return std::nullopt;
  }
  if (unit == "s" || unit.empty()) return n;
  if (unit == "m") return n / 60.0;
  if (unit == "h") return n / 3600.0;
  *error = "unknown rate unit '" + unit + "' (s, m or h)";
  return std::nullopt;
}

RateLimiter::Clock::time_point RateLimiter::Reserve(const std::string& name, double per_second,
                                                    Clock::time_point now) {
  Clock::time_point& next = next_[name];
  const Clock::time_point start = std::max(now, next);
  next = start + std::chrono::duration_cast<Clock::duration>(
                     std::chrono::duration<double>(1.0 / per_second));
  return start;
}

}  // namespace cw::worker

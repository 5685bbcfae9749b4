// Celery's task rate limits ("10/s", "100/m", "1000/h", a bare number per second; 0 or empty:
// none) and the token bucket of capacity 1 its worker applies per task name: a task of that
// name starts at most once per 1/rate seconds, later ones wait in memory, their message still
// in `unacked`, as in Celery.
#pragma once

#include <chrono>
#include <map>
#include <optional>
#include <string>

namespace cw::worker {

/// Tasks per second, 0 for "no limit"; nullopt (with `error`) for text Celery would refuse.
std::optional<double> ParseRate(const std::string& text, std::string* error);

class RateLimiter {
 public:
  using Clock = std::chrono::system_clock;
  /// When a task of `name` limited to `per_second` (> 0) may start if it arrives at `now`;
  /// reserves that moment, so the next one comes 1/rate later.
  Clock::time_point Reserve(const std::string& name, double per_second, Clock::time_point now);
  /// Forgets `name`'s schedule (its limit changed).
  void Reset(const std::string& name) { next_.erase(name); }

 private:
  std::map<std::string, Clock::time_point> next_;
};

}  // namespace cw::worker

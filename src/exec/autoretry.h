// Celery's automatic retries (Task.autoretry_for, retry_backoff, retry_jitter): which failures
// are retried, and after how long. Pure functions; Execute() applies them.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace cw::exec {

/// Python's isinstance(exc, tuple(autoretry_for)) for an exception known by its Celery triple.
/// A name matches the exc_type ("ValueError"), the qualified name ("builtins.ValueError",
/// "myapp.errors.PaymentDeclined"), a builtin base class of a builtin exception ("OSError" for
/// ConnectionError, "LookupError" for KeyError, ...), or "Exception"/"BaseException" (any).
bool AutoretryMatches(const std::vector<std::string>& autoretry_for,
                      const std::string& exc_module, const std::string& exc_type);

/// Celery's get_exponential_backoff_interval: min(maximum, factor * 2**retries), never negative.
/// With full_jitter the delay is drawn uniformly from [0, that]: a whole number of seconds
/// (Python's randrange(countdown + 1)) when factor and maximum are whole numbers, a real
/// number otherwise.
double BackoffInterval(double factor, int64_t retries, double maximum, bool full_jitter);

}  // namespace cw::exec

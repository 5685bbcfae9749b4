// Waiting inside a task.
//
// In the solo and prefork pools these block the calling thread. (The green pool, when it lands,
// makes them yield the fiber; the task code stays the same.)
#pragma once

#include <chrono>
#include <string>

namespace cw {

/// Sleeps for `duration`.
void SleepFor(std::chrono::duration<double> duration);

/// The environment variable `name`, or `fallback` when it is unset or empty.
std::string GetEnv(const char* name, const std::string& fallback = "");

}  // namespace cw

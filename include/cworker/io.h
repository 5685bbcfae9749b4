// Waiting inside a task: the yield points of the green and prefork pools.
//
// In the green pool (-P green) these park the task's fiber and let other tasks run; in the solo
// pool (and outside any worker) they simply block the calling thread. The task code is the same.
// In the green and prefork pools they are also where a soft time limit raises
// cw::SoftTimeLimitExceeded (and, in the green pool, where a hard time limit ends the task;
// prefork kills the child process instead).
#pragma once

#include <chrono>
#include <optional>
#include <string>

namespace cw {

/// Sleeps for `duration`.
void SleepFor(std::chrono::duration<double> duration);

/// A yield point for CPU-bound loops: call it every few milliseconds of work. In the prefork
/// and green pools a pending soft time limit raises cw::SoftTimeLimitExceeded here (and a hard
/// limit in the green pool ends the task); in the green pool other tasks run meanwhile. Costs
/// about a microsecond; does nothing outside a pool's fiber (solo).
void Checkpoint();

/// Waits until `fd` can be read without blocking (data, EOF or an error). Returns false when
/// `timeout` passed first. For wrapping other non-blocking C libraries: wait, then read.
/// Only one task may wait on a given fd at a time.
bool WaitReadable(int fd, std::optional<std::chrono::duration<double>> timeout = std::nullopt);
/// Waits until `fd` can be written without blocking. Returns false on timeout.
bool WaitWritable(int fd, std::optional<std::chrono::duration<double>> timeout = std::nullopt);

/// The environment variable `name`, or `fallback` when it is unset or empty.
std::string GetEnv(const char* name, const std::string& fallback = "");

}  // namespace cw

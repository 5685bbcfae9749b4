#include <cworker/io.h>

#include <cstdlib>

#include "green/waits.h"

namespace cw {

void SleepFor(std::chrono::duration<double> duration) { green::SleepFor(duration); }

void Checkpoint() {
  if (green::CurrentFiber() == nullptr) return;
  green::Yield();  // one loop turn: due timers (time limits) fire, other fibers run
  green::CheckInterrupt();
}

bool WaitReadable(int fd, std::optional<std::chrono::duration<double>> timeout) {
  return green::WaitFd(fd, green::kReadable, timeout) != 0;
}

bool WaitWritable(int fd, std::optional<std::chrono::duration<double>> timeout) {
  return green::WaitFd(fd, green::kWritable, timeout) != 0;
}

std::string GetEnv(const char* name, const std::string& fallback) {
  const char* value = std::getenv(name);  // NOLINT(concurrency-mt-unsafe): read-only use
  return (value != nullptr && *value != '\0') ? std::string(value) : fallback;
}

}  // namespace cw

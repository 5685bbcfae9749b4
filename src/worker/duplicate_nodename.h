// Celery warns when two workers answer under one node name (DuplicateNodenameWarning): their
// replies, revokes and events cannot be told apart. A starting cworker listens to the workers'
// heartbeats for a few seconds and warns if another process (cworker or Celery) sends them
// under its own name.
#pragma once

#include <atomic>
#include <string>
#include <thread>

#include "redis/url.h"

namespace cw::worker {

class DuplicateNodenameCheck {
 public:
  /// Listens for `seconds` on a thread of its own, from now.
  DuplicateNodenameCheck(redis::Url broker, std::string nodename, double seconds);
  ~DuplicateNodenameCheck();  ///< stops listening
  DuplicateNodenameCheck(const DuplicateNodenameCheck&) = delete;
  DuplicateNodenameCheck& operator=(const DuplicateNodenameCheck&) = delete;

  /// Whether the body of a worker event names `nodename` from a process other than `pid`.
  static bool IsDuplicate(const std::string& event_envelope, const std::string& nodename,
                          int64_t pid, std::string* other);

 private:
  void Run(double seconds);

  redis::Url broker_;
  std::string nodename_;
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

}  // namespace cw::worker

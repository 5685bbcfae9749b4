// Visibility timeout, both halves, on a thread of its own (so a long task on the solo pool, or
// a busy consumer, never delays it):
//   - every period it refreshes the unacked_index score of each message this worker holds
//     (prefetched, ETA-held, rate-limited, running), so no worker restores them while this one
//     is alive, however long they wait or run;
//   - then it runs kombu's restore_visible: messages left in unacked longer than the visibility
//     timeout (a worker was killed) go back to their queues.
// The period is a quarter of the timeout (at least 0.25 s, at most 60 s), so a lease is never
// older than that while the worker lives.
#pragma once

#include <atomic>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "redis/url.h"

namespace cw::worker {

class LeaseKeeper {
 public:
  using HeldTags = std::function<std::vector<std::string>()>;
  LeaseKeeper(redis::Url broker, std::vector<std::string> queues, double visibility_timeout_s,
              HeldTags held);
  ~LeaseKeeper();  ///< stops the thread
  LeaseKeeper(const LeaseKeeper&) = delete;
  LeaseKeeper& operator=(const LeaseKeeper&) = delete;

  void Start();
  void Stop();
  static double PeriodFor(double visibility_timeout_s);

 private:
  void Run();

  redis::Url broker_;
  std::vector<std::string> queues_;
  double visibility_timeout_s_;
  HeldTags held_;
  std::mutex mutex_;
  std::condition_variable wake_;
  std::atomic<bool> stop_{false};  ///< also the transport's give-up flag
  std::thread thread_;
};

}  // namespace cw::worker

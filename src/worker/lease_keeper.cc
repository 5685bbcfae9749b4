#include "worker/lease_keeper.h"

#include <algorithm>
#include <chrono>

#include <spdlog/spdlog.h>

#include "broker/redis_transport.h"

namespace cw::worker {

LeaseKeeper::LeaseKeeper(redis::Url broker, std::vector<std::string> queues,
                         double visibility_timeout_s, HeldTags held)
    : broker_(std::move(broker)),
      queues_(std::move(queues)),
      visibility_timeout_s_(visibility_timeout_s),
      held_(std::move(held)) {}

LeaseKeeper::~LeaseKeeper() { Stop(); }

double LeaseKeeper::PeriodFor(double visibility_timeout_s) {
  return std::clamp(visibility_timeout_s / 4, 0.25, 60.0);
}

void LeaseKeeper::Start() {
  thread_ = std::thread([this] { Run(); });
}

void LeaseKeeper::Stop() {
  {
    std::lock_guard lock(mutex_);  // so the wait cannot miss the notify
    stop_.store(true);
  }
  wake_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void LeaseKeeper::Run() {
  broker::RedisTransport transport(broker_, queues_, &stop_, &stop_);
  const auto period = std::chrono::duration<double>(PeriodFor(visibility_timeout_s_));
  std::unique_lock lock(mutex_);
  while (!stop_.load()) {
    lock.unlock();
    try {
      std::vector<std::string> tags = held_();
      std::sort(tags.begin(), tags.end());
      tags.erase(std::unique(tags.begin(), tags.end()), tags.end());
      transport.ExtendLeases(tags);
      if (const int restored = transport.RestoreVisible(visibility_timeout_s_); restored > 0) {
        spdlog::warn("Restored {} message(s) left unacknowledged for more than the visibility "
                     "timeout ({} s): their worker was lost",
                     restored, visibility_timeout_s_);
      }
    } catch (const redis::Stopped&) {
      return;
    } catch (const std::exception& e) {
      spdlog::error("Visibility timeout upkeep failed: {}", e.what());
    }
    lock.lock();
    wake_.wait_for(lock, period, [this] { return stop_.load(); });
  }
}

}  // namespace cw::worker

// --http: what /healthz checks and what /metrics shows (monitoring/ serves them). Runs on the
// listener's thread: only atomics, the control state under its mutex, and a Redis connection
// of its own.
#include <spdlog/spdlog.h>

#include "worker/worker.h"

namespace cw::worker {
namespace {

// The consumer loop turns at least once a second (an idle fetch waits 1 s at most); a loop silent
// for this long is stuck.
constexpr int64_t kLoopStaleMs = 30000;

int64_t NowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

}  // namespace

void Worker::StartHttp() {
  if (options_.http.empty()) return;
  http_ = std::make_unique<monitoring::HttpListener>(
      options_.http, monitoring::HttpHandlers{[this] { return CheckHealth(); },
                                              [this] { return RenderMetrics(); }});
  spdlog::info("Serving /healthz and /metrics on http://{}:{}", http_->host(), http_->port());
}

monitoring::Health Worker::CheckHealth() {
  monitoring::Health h;
  // The loop: turning, or (solo only) busy with the task it runs on its own thread.
  const int64_t age_ms = NowMs() - loop_turned_ms_.load();
  const bool busy_solo = pool_->name() == "solo" && active_.load() > 0;
  std::string loop = "ok";
  if (!ready_.load()) {
    loop = warm_stop_.load() ? "stopping" : "starting";
  } else if (warm_stop_.load()) {
    loop = "stopping";
  } else if (age_ms > kLoopStaleMs && !busy_solo) {
    loop = "stuck for " + std::to_string(age_ms / 1000) + "s";
  }
  // Redis: a PING on this thread's own connection, with a short timeout.
  std::string broker = "ok";
  {
    std::lock_guard lock(health_mutex_);
    try {
      if (!health_conn_) {
        health_conn_ = std::make_unique<redis::Connection>(options_.broker, "health");
        health_conn_->set_reply_timeout(std::chrono::milliseconds(2000));
      }
      const redis::Reply pong = health_conn_->Call({"PING"});
      if (pong.is_error()) broker = std::string(pong.str());
    } catch (const std::exception& e) {
      broker = e.what();
    }
  }
  h.ok = loop == "ok" && broker == "ok";
  h.body = Json::MakeObject({{"status", h.ok ? "ok" : "unhealthy"},
                             {"loop", loop},
                             {"loop_age_seconds", static_cast<double>(age_ms) / 1000.0},
                             {"broker", broker},
                             {"hostname", options_.nodename}})
               .Dump();
  return h;
}

std::string Worker::RenderMetrics() {
  double prefetched = 0;
  {
    std::lock_guard lock(control_mutex_);
    prefetched = static_cast<double>(fetched_.size() + scheduled_requests_.size() +
                                     reserved_requests_.size());
  }
  using monitoring::Sample;
  return metrics_.Render({
      Sample{"cworker_tasks_active", "Tasks running now.", "gauge",
             static_cast<double>(active_.load())},
      Sample{"cworker_tasks_prefetched",
             "Messages taken from the broker and held, waiting for their ETA or rate limit.",
             "gauge", prefetched},
      Sample{"cworker_tasks_processed_total", "Tasks run since the worker started.", "counter",
             static_cast<double>(processed_.load())},
      Sample{"cworker_pool_concurrency", "Tasks the pool runs at once (-c, pool_grow/shrink).",
             "gauge", static_cast<double>(pool_->concurrency())},
      Sample{"cworker_broker_reconnects_total",
             "Times a broker connection was made again after it was lost.", "counter",
             static_cast<double>(transport_->reconnects())},
      Sample{"cworker_up", "1 while the worker consumes.", "gauge", ready_.load() ? 1.0 : 0.0},
  });
}

}  // namespace cw::worker

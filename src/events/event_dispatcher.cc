#include "events/event_dispatcher.h"

#include <sys/utsname.h>
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <cstdlib>
#include <ctime>

#include <spdlog/spdlog.h>

#include <cw/protocol/task_encode.h>

#include "redis/connection.h"
#include "util/uuid.h"

namespace cw::events {
namespace {

double Now() {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

Json LoadAverage() {
  double load[3] = {0, 0, 0};
  if (getloadavg(load, 3) != 3) return Json::MakeArray({0.0, 0.0, 0.0});
  auto round2 = [](double v) { return std::round(v * 100.0) / 100.0; };
  return Json::MakeArray({round2(load[0]), round2(load[1]), round2(load[2])});
}

std::string SystemName() {
  utsname u{};
  return uname(&u) == 0 ? std::string(u.sysname) : std::string("Linux");
}

}  // namespace

Json MakeEvent(const std::string& type, const std::string& hostname, int64_t pid, int64_t clock,
               const Json& fields, double timestamp, int64_t utcoffset) {
  Json event = Json::MakeObject(
      {{"hostname", hostname}, {"utcoffset", utcoffset}, {"pid", pid}, {"clock", clock}});
  if (fields.is_object()) {
    for (const auto& [key, value] : fields.as_object()) event.Set(key, value);
  }
  event.Set("timestamp", timestamp);
  event.Set("type", type);
  return event;
}

std::string EncodeEventEnvelope(const Json& body, const std::string& hostname,
                                const std::string& routing_key, const std::string& delivery_tag) {
  return protocol::EncodeTransientEnvelope(body.Dump(), Json::MakeObject({{"hostname", hostname}}),
                                           "celeryev", routing_key, delivery_tag);
}

std::string RoutingKey(const std::string& type) {
  std::string key = type;
  for (char& c : key) {
    if (c == '-') c = '.';
  }
  return key;
}

std::string EventChannel(int db, const std::string& routing_key) {
  return "/" + std::to_string(db) + ".celeryev/" + routing_key;
}

int64_t UtcOffsetHours() {
  tzset();
  return static_cast<int64_t>(std::floor(static_cast<double>(timezone) / 3600.0));
}

EventDispatcher::EventDispatcher(EventOptions options, std::function<Json()> stats)
    : options_(std::move(options)),
      stats_(std::move(stats)),
      pid_(getpid()),
      utcoffset_(UtcOffsetHours()),
      task_events_(options_.task_events) {}

int64_t EventDispatcher::Tick(int64_t received) {
  int64_t current = clock_.load();
  int64_t next = 0;
  do {
    next = std::max(current, received) + 1;
  } while (!clock_.compare_exchange_weak(current, next));
  return next;
}

EventDispatcher::~EventDispatcher() { Stop(); }

void EventDispatcher::Start() {
  if (thread_.joinable()) return;
  Queue("worker-online", Json());
  thread_ = std::thread([this] { Loop(); });
}

void EventDispatcher::Stop() {
  if (!thread_.joinable()) return;
  Queue("worker-offline", Json());
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_one();
  thread_.join();
}

void EventDispatcher::SendTask(const std::string& type, Json fields) {
  if (task_events_.load()) Queue(type, std::move(fields));
}

void EventDispatcher::Queue(std::string type, Json fields) {
  {
    std::lock_guard lock(mutex_);
    queue_.push_back({std::move(type), std::move(fields), Now()});
  }
  wake_.notify_one();
}

Json EventDispatcher::WorkerFields() {
  Json stats = stats_ ? stats_() : Json();
  const Json* active = stats.is_object() ? stats.Find("active") : nullptr;
  const Json* processed = stats.is_object() ? stats.Find("processed") : nullptr;
  return Json::MakeObject({{"freq", options_.freq},
                           {"active", active != nullptr ? *active : Json(int64_t{0})},
                           {"processed", processed != nullptr ? *processed : Json(int64_t{0})},
                           {"loadavg", LoadAverage()},
                           {"sw_ident", "cworker"},
                           {"sw_ver", options_.version},
                           {"sw_sys", SystemName()}});
}

void EventDispatcher::Loop() {
  redis::Connection conn(options_.broker, "events");
  auto next_beat = std::chrono::steady_clock::now() +
                   std::chrono::duration_cast<std::chrono::steady_clock::duration>(
                       std::chrono::duration<double>(options_.freq));
  for (;;) {
    std::deque<Pending> batch;
    bool stop = false;
    {
      std::unique_lock lock(mutex_);
      wake_.wait_until(lock, next_beat, [this] { return stopping_ || !queue_.empty(); });
      batch.swap(queue_);
      stop = stopping_;
    }
    if (std::chrono::steady_clock::now() >= next_beat && !stop) {
      if (options_.heartbeat) batch.push_back({"worker-heartbeat", Json(), Now()});
      next_beat += std::chrono::duration_cast<std::chrono::steady_clock::duration>(
          std::chrono::duration<double>(options_.freq));
    }
    for (const Pending& event : batch) {
      const bool worker_event = event.type.rfind("worker-", 0) == 0;
      const Json fields = worker_event ? WorkerFields() : event.fields;
      const Json body = MakeEvent(event.type, options_.hostname, pid_, ++clock_, fields,
                                  event.timestamp, utcoffset_);
      const std::string key = RoutingKey(event.type);
      const std::string envelope =
          EncodeEventEnvelope(body, options_.hostname, key, util::Uuid4());
      const std::string channel = EventChannel(options_.broker.db, key);
      try {
        if (!conn.connected()) conn.Connect();
        conn.Call({"PUBLISH", channel, envelope});
        warned_ = false;
      } catch (const std::exception& e) {
        // Events are pub/sub: one that cannot be sent now is lost, as with Celery.
        if (!warned_) spdlog::warn("Could not send events: {}", e.what());
        warned_ = true;
        conn.Close();
      }
    }
    if (stop) return;
  }
}

}  // namespace cw::events

// Celery's events (-E), as Flower, `celery events` and app.events.Receiver read them: JSON
// objects in kombu envelopes, PUBLISHed to /<db>.celeryev/<routing key> (pub/sub: nothing is
// stored, nobody listening means the event is gone).
//
// The worker group (worker-online, worker-heartbeat every `freq` seconds, worker-offline) is
// always sent, as by Celery; task events (task-received, -started, -succeeded, -failed,
// -retried, -rejected, -revoked) only with -E. Events are queued and published by a thread of
// the dispatcher's own with a connection of its own, so sending never blocks a task or the
// loop, and a Redis that is away only costs events (logged once), never the worker.
#pragma once

#include <atomic>
#include <condition_variable>
#include <deque>
#include <functional>
#include <mutex>
#include <string>
#include <thread>

#include <cworker/json.h>

#include "redis/url.h"

namespace cw::events {

struct EventOptions {
  redis::Url broker;
  std::string hostname;      ///< the worker's node name
  bool task_events = false;  ///< -E
  bool heartbeat = true;     ///< worker-heartbeat every `freq` seconds
  double freq = 2.0;         ///< heartbeat interval, seconds (advertised in every worker event)
  std::string version;       ///< sw_ver
};

/// One event object, fields in Celery's order: hostname, utcoffset, pid, clock, `fields`,
/// timestamp, type.
Json MakeEvent(const std::string& type, const std::string& hostname, int64_t pid, int64_t clock,
               const Json& fields, double timestamp, int64_t utcoffset);
/// The kombu envelope around `body` (an event object, or an array of them for task.multi).
std::string EncodeEventEnvelope(const Json& body, const std::string& hostname,
                                const std::string& routing_key, const std::string& delivery_tag);
/// "task-succeeded" -> "task.succeeded".
std::string RoutingKey(const std::string& type);
/// "/0.celeryev/task.succeeded": the pub/sub channel kombu's Redis fanout uses.
std::string EventChannel(int db, const std::string& routing_key);
/// Celery's utcoffset: whole hours, positive west of UTC (time.timezone // 3600).
int64_t UtcOffsetHours();

class EventDispatcher {
 public:
  /// `stats` gives {"active": n, "processed": n} for the worker events; called on the
  /// dispatcher's thread.
  EventDispatcher(EventOptions options, std::function<Json()> stats);
  ~EventDispatcher();
  EventDispatcher(const EventDispatcher&) = delete;
  EventDispatcher& operator=(const EventDispatcher&) = delete;

  /// Sends worker-online and starts the heartbeats.
  void Start();
  /// Sends worker-offline, publishes what is queued, stops the thread.
  void Stop();

  bool task_events() const { return task_events_.load(); }
  /// Queues a task event (`fields` after the common ones); ignored without -E.
  void SendTask(const std::string& type, Json fields);
  /// A worker-heartbeat now (the control command `heartbeat`).
  void Heartbeat() { Queue("worker-heartbeat", Json()); }
  /// enable_events / disable_events.
  void set_task_events(bool on) { task_events_.store(on); }
  /// Lamport clock: max(local, received) + 1 for a received message; +1 for a sent reply.
  int64_t Tick(int64_t received);

 private:
  struct Pending {
    std::string type;
    Json fields;
    double timestamp;
  };
  void Queue(std::string type, Json fields);
  void Loop();
  Json WorkerFields();

  EventOptions options_;
  std::function<Json()> stats_;
  int64_t pid_;
  int64_t utcoffset_;
  std::atomic<int64_t> clock_{0};
  std::atomic<bool> task_events_;
  std::mutex mutex_;
  std::condition_variable wake_;
  std::deque<Pending> queue_;
  bool stopping_ = false;
  std::thread thread_;
  bool warned_ = false;
};

}  // namespace cw::events

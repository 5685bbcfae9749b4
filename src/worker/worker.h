// The worker: the consumer loop that takes messages from the broker, runs them in the pool
// (pools/pool.h: solo runs them inline, green on fibers, prefork in child processes) and
// writes their results.
#pragma once

#include <atomic>
#include <chrono>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include <cw/protocol/task_message.h>
#include <cworker/task.h>

#include "backend/redis_backend.h"
#include "broker/redis_transport.h"
#include "canvas/applier.h"
#include "canvas/continuations.h"
#include "canvas/redis_sink.h"
#include "canvas/router.h"
#include "control/mailbox.h"
#include "events/event_dispatcher.h"
#include "green/waits.h"
#include "exec/executor.h"
#include "monitoring/http_listener.h"
#include "monitoring/metrics.h"
#include "pools/pool.h"
#include "redis/connection.h"
#include "redis/url.h"
#include "worker/duplicate_nodename.h"
#include "worker/lease_keeper.h"
#include "worker/rate_limit.h"
#include "worker/recycled_nodes.h"
#include "worker/revoked_set.h"

namespace cw::worker {

struct WorkerOptions {
  redis::Url broker;
  std::optional<redis::Url> backend;  ///< nullopt: results disabled (Celery's default)
  std::vector<std::string> queues{"celery"};
  int concurrency = 1;
  int prefetch_multiplier = 4;
  std::string pool = "solo";
  std::string nodename;
  bool acks_late = false;      ///< task_acks_late for every task
  int result_expires = 86400;  ///< seconds; 0 = never
  /// Celery's task_routes and task_default_queue, for the messages this worker sends.
  std::vector<canvas::RouteRule> routes;
  std::string default_queue = "celery";
  bool result_extended = false;  ///< result_extended: name, args, kwargs, worker, ... in records
  bool track_started = false;    ///< task_track_started for every task
  /// worker_eta_task_limit: ETA/countdown tasks held in memory at most; when reached the worker
  /// stops fetching until one is due (0 = no limit).
  size_t eta_task_limit = 1000;
  /// kombu's visibility_timeout: messages in unacked older than this are restored (by whichever
  /// worker looks first); the leases of the messages this worker holds are kept fresh.
  double visibility_timeout = 3600;
  /// Messages larger than this (bytes) are refused with a FAILURE, never decoded (0: no limit).
  size_t max_message_size = size_t{64} << 20;
  size_t stack_size = 256 * 1024;   ///< green: bytes of stack per fiber
  double blocking_threshold = 1.0;  ///< green: warn when a task keeps the loop this long
  std::optional<double> time_limit;       ///< task_time_limit (hard), seconds
  std::optional<double> soft_time_limit;  ///< task_soft_time_limit, seconds
  bool reject_on_worker_lost = false;     ///< task_reject_on_worker_lost
  /// prefork: how to start a child (this binary and its arguments), and when to replace one.
  std::vector<std::string> child_command;
  int max_tasks_per_child = 0;
  int64_t max_memory_per_child_kib = 0;
  bool task_events = false;  ///< -E: send task events (worker events are always sent)
  bool heartbeat = true;     ///< worker-heartbeat every 2 s (--without-heartbeat: off)
  std::string version;       ///< cworker's version, for the events' sw_ver
  /// --statedb: file that keeps revoked ids across restarts (empty: memory only, as Celery).
  std::string statedb;
  /// --http HOST:PORT: serve /healthz and /metrics there (empty: no listener).
  std::string http;
};

class Worker {
 public:
  explicit Worker(WorkerOptions options);
  ~Worker();

  /// Connects, consumes until a warm shutdown is requested, then returns the exit code.
  int Run();

  /// Warm shutdown (SIGTERM, first SIGINT): stop consuming, finish the running task, put
  /// prefetched and ETA-held messages back on their queues. Safe from any thread.
  void RequestWarmShutdown();
  /// Cold shutdown (second signal, SIGQUIT): put back every message this worker holds in
  /// `unacked`, using a connection of its own, and end the process with status 1 at once.
  [[noreturn]] void ColdShutdown();

  const WorkerOptions& options() const { return options_; }
  /// The --http listener's port once Run started it (0: none).
  int http_port() const { return http_ ? http_->port() : 0; }

 private:
  struct Held {  // a received message waiting for its ETA
    protocol::TaskMessage msg;
    std::string tag;
    const TaskDescriptor* task = nullptr;
    bool rate_limited = false;  ///< waiting for its task's rate limit, not for an ETA
  };

  // What one running task uses to send follow-ups: its own applier (the children it sends are
  // its own, even when other tasks run beside it on fibers) and continuations on top of it.
  struct TaskScope {
    explicit TaskScope(const Worker& w);
    canvas::Applier applier;
    canvas::Continuations continuations;
  };

  void Consume();
  /// Celery's prefetch window: concurrency x prefetch multiplier.
  size_t Window() const;
  void FetchMore();
  /// Fiber pools: pops the next batch on a fiber of its own while the consumer starts the ones
  /// fetched, so the worker does not sit idle while Redis runs the pop script. (Solo gains
  /// nothing from it: measured, its time goes to a write per ack and per result.)
  void MaybeReadAhead();
  /// Tracks a popped batch and queues it for the consumer; `asked`: how many were wanted.
  void Accept(std::vector<broker::Delivery> batch, size_t asked);
  Json ReservedInfo(const broker::Delivery& d) const;
  void HandleDelivery(broker::Delivery& d);
  void StartTask(const TaskDescriptor& task, protocol::TaskMessage msg, std::string tag);
  pools::Limits LimitsFor(const TaskDescriptor& task, const protocol::TaskMessage& msg) const;
  void RejectUndecodable(const broker::Delivery& d, const protocol::DecodeError& error);
  void RunTask(const TaskDescriptor& task, protocol::TaskMessage& msg,
               const std::string& tag);
  void RunDueEtaTasks();
  double SecondsToNextEta() const;
  bool DiscardIfExpired(const protocol::TaskMessage& msg, const std::string& tag);
  void StoreFailure(const protocol::TaskMessage& msg, const exec::Outcome& out);
  void StoreState(const protocol::TaskMessage& msg, const std::string& status, Json result,
                  const std::string& traceback, Json children = Json::Array{});
  void Succeeded(TaskScope& scope, const TaskDescriptor& task, const protocol::TaskMessage& msg,
                 const RequestInfo& request, const exec::Outcome& out);
  void Failed(TaskScope& scope, const TaskDescriptor& task, const protocol::TaskMessage& msg,
              const RequestInfo& request, const exec::Outcome& out, bool log = true);
  /// True while the ETA hold is full (worker_eta_task_limit): the loop then stops fetching.
  bool EtaHoldFull();
  void PublishRetry(const protocol::TaskMessage& msg, const exec::Outcome& out);
  /// The task's request; `with_headers` false leaves request.headers for the caller to fill
  /// (RunTask moves the message's own in: no copy of the whole headers tree per task).
  RequestInfo MakeRequest(const protocol::TaskMessage& msg, bool with_headers = true) const;
  void Ack(const std::string& tag);
  void Restore(const std::string& tag, bool leftmost);
  void Track(const std::string& tag);
  void RestoreAllHeld();
  /// Remote control (control_commands.cc): the reply to one pidbox request, on its thread.
  std::optional<Json> HandleControl(const control::ControlRequest& request);
  bool IsRevoked(const std::string& id) const;
  /// Celery's "Discarding revoked task": REVOKED stored, task-revoked event, message acked.
  bool DiscardIfRevoked(const protocol::TaskMessage& msg, const std::string& tag);
  void Discard(const protocol::TaskMessage& msg, const std::string& tag, const std::string& reason,
               std::optional<int> signum = std::nullopt);
  Json RequestInfoJson(const protocol::TaskMessage& msg, double time_start) const;
  /// Remote-control helpers (control_commands.cc).
  Json Revoke(const Json& args, bool terminate);
  Json ChangeQueues(const std::string& method, const Json& args);
  Json SetRateLimit(const Json& args);
  Json SetTimeLimit(const Json& args);
  void SaveRevoked();  ///< --statedb; caller holds control_mutex_
  /// A task whose rate limit says "not yet": held until its turn. False when it may run now.
  bool HoldForRateLimit(const TaskDescriptor& task, protocol::TaskMessage& msg,
                        const std::string& tag);
  /// Applies add_consumer / cancel_consumer changes before the next fetch (consumer only).
  void ApplyQueueChanges();
  /// --http (health.cc).
  void StartHttp();
  monitoring::Health CheckHealth();
  std::string RenderMetrics();

  WorkerOptions options_;
  std::unique_ptr<pools::Pool> pool_;
  std::string origin_;  ///< "gen<pid>@<host>": the origin header of messages we publish
  std::atomic<bool> warm_stop_{false};
  std::atomic<bool> cold_stop_{false};
  std::unique_ptr<broker::RedisTransport> transport_;
  std::unique_ptr<backend::RedisBackend> backend_;
  // What the worker sends besides results: chain steps, callbacks, chord bodies, errbacks and
  // the tasks its tasks send (TaskContext::Send). applier_ is the template of each TaskScope's
  // and serves the consumer itself (chord parts of expired tasks).
  std::unique_ptr<canvas::RedisSink> sink_;
  std::unique_ptr<canvas::Applier> applier_;
  std::unique_ptr<canvas::Continuations> continuations_;
  bool eta_limit_logged_ = false;
  std::unique_ptr<events::EventDispatcher> events_;
  std::atomic<int64_t> active_{0};     ///< tasks running now (worker events' "active")
  std::atomic<int64_t> processed_{0};  ///< tasks run so far ("processed")
  std::unique_ptr<control::MailboxServer> mailbox_;
  std::chrono::steady_clock::time_point started_at_ = std::chrono::steady_clock::now();
  // What remote control reports and changes, shared with the mailbox thread.
  mutable std::mutex control_mutex_;
  /// A running task, for `inspect active`: its message lives until the entry is erased (the
  /// task's closure owns it), so the request's JSON is built only when someone asks.
  struct ActiveRequest {
    const protocol::TaskMessage* msg;
    double time_start;
  };
  std::map<std::string, ActiveRequest> active_requests_;  ///< id -> running task
  RecycledNodes<std::map<std::string, ActiveRequest>> active_nodes_;  ///< under control_mutex_
  std::map<std::string, Json> scheduled_requests_;  ///< id -> {eta, priority, request}
  std::map<std::string, int64_t> totals_;           ///< task name -> count (`inspect stats`)
  std::map<std::string, Json> reserved_requests_;   ///< held by a rate limit (`inspect reserved`)
  RevokedSet revoked_ = RevokedSet::FromEnvironment();
  std::vector<std::string> queues_;          ///< what active_queues reports; control may change it
  std::atomic<bool> queues_changed_{false};  ///< the consumer applies queues_ before its next fetch
  std::map<std::string, double> rate_overrides_;          ///< rate_limit command: per second
  std::set<std::string> rate_resets_;  ///< tasks whose limit changed: restart their schedule
  std::map<std::string, pools::Limits> limit_overrides_;  ///< time_limit command
  RateLimiter rate_limiter_;  ///< consumer only
  // --http: counters, the listener, the loop's last turn, its own Redis connection for checks.
  monitoring::Metrics metrics_;
  std::unique_ptr<monitoring::HttpListener> http_;
  std::unique_ptr<LeaseKeeper> lease_keeper_;  ///< visibility timeout: leases and restores
  std::unique_ptr<DuplicateNodenameCheck> duplicate_check_;  ///< the first seconds only
  std::atomic<int64_t> loop_turned_ms_{0};  ///< steady clock, ms
  std::atomic<bool> ready_{false};
  std::mutex health_mutex_;
  std::unique_ptr<redis::Connection> health_conn_;
  std::multimap<std::chrono::system_clock::time_point, std::unique_ptr<Held>> eta_queue_;
  /// Fetched in a batch, not handled yet: the consumer's, under control_mutex_ because
  /// `inspect reserved` lists them too.
  std::deque<broker::Delivery> fetched_;
  std::shared_ptr<green::Event> reading_ahead_;  ///< set when the read-ahead pop has landed
  bool queue_had_more_ = false;  ///< the last pop got all it asked for: more may be queued
  bool memory_trimmed_ = true;   ///< malloc_trim ran since the last message was fetched

  // Tags this worker holds in `unacked`, for the cold-shutdown thread.
  mutable std::mutex held_mutex_;
  std::multiset<std::string> held_tags_;
  RecycledNodes<std::multiset<std::string>> held_tag_nodes_;  ///< under held_mutex_
};

}  // namespace cw::worker

// Remote control: what the worker answers to `celery inspect ...` / `celery control ...`
// (control/mailbox.h carries the requests and replies). Runs on the mailbox thread, so it
// only touches state under control_mutex_ or atomics.
#include <sys/resource.h>
#include <unistd.h>

#include <spdlog/spdlog.h>

#include <cw/protocol/python_repr.h>

#include "worker/worker.h"

namespace cw::worker {
namespace p = cw::protocol;

namespace {

Json Ok(const std::string& text) { return Json::MakeObject({{"ok", text}}); }

std::vector<std::string> TaskIds(const Json& arg) {
  std::vector<std::string> ids;
  if (arg.is_string()) ids.push_back(arg.as_string());
  if (arg.is_array()) {
    for (const Json& id : arg.as_array()) {
      if (id.is_string()) ids.push_back(id.as_string());
    }
  }
  return ids;
}

std::string Joined(const std::vector<std::string>& ids) {
  std::string out;
  for (const std::string& id : ids) out += (out.empty() ? "" : ", ") + id;
  return out;
}

Json QueueInfo(const std::string& name) {
  // What kombu's Queue.as_dict() gives for a worker's plain queue (direct exchange of the
  // same name).
  return Json::MakeObject(
      {{"name", name},
       {"exchange", Json::MakeObject({{"name", name},
                                      {"type", "direct"},
                                      {"arguments", Json()},
                                      {"durable", true},
                                      {"passive", false},
                                      {"auto_delete", false},
                                      {"delivery_mode", Json()},
                                      {"no_declare", false}})},
       {"routing_key", name},
       {"queue_arguments", Json()},
       {"binding_arguments", Json()},
       {"consumer_arguments", Json()},
       {"durable", true},
       {"exclusive", false},
       {"auto_delete", false},
       {"no_ack", false},
       {"alias", Json()},
       {"bindings", Json::Array{}},
       {"no_declare", Json()},
       {"expires", Json()},
       {"message_ttl", Json()},
       {"max_length", Json()},
       {"max_length_bytes", Json()},
       {"max_priority", Json()}});
}

Json Rusage() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  auto seconds = [](const timeval& tv) {
    return static_cast<double>(tv.tv_sec) + static_cast<double>(tv.tv_usec) / 1e6;
  };
  return Json::MakeObject({{"utime", seconds(u.ru_utime)},
                           {"stime", seconds(u.ru_stime)},
                           {"maxrss", static_cast<int64_t>(u.ru_maxrss)},
                           {"minflt", static_cast<int64_t>(u.ru_minflt)},
                           {"majflt", static_cast<int64_t>(u.ru_majflt)},
                           {"nvcsw", static_cast<int64_t>(u.ru_nvcsw)},
                           {"nivcsw", static_cast<int64_t>(u.ru_nivcsw)}});
}

}  // namespace

Json Worker::RequestInfoJson(const p::TaskMessage& msg, double time_start) const {
  return Json::MakeObject(
      {{"id", msg.id},
       {"name", msg.task},
       {"args", msg.args},
       {"kwargs", msg.kwargs},
       {"type", msg.task},
       {"hostname", options_.nodename},
       {"time_start", time_start > 0 ? Json(time_start) : Json()},
       {"acknowledged", !(options_.acks_late)},
       {"delivery_info", msg.delivery_info},
       {"worker_pid", time_start > 0 ? Json(static_cast<int64_t>(getpid())) : Json()}});
}

bool Worker::IsRevoked(const std::string& id) const {
  std::lock_guard lock(control_mutex_);
  return revoked_.contains(id);
}

std::optional<Json> Worker::HandleControl(const control::ControlRequest& r) {
  const std::string& m = r.method;
  const Json& args = r.arguments;
  if (m == "ping") return Ok("pong");
  if (m == "clock") return Json::MakeObject({{"clock", events_->Tick(0)}});
  if (m == "heartbeat") {
    events_->Heartbeat();
    return std::nullopt;
  }
  if (m == "enable_events") {
    events_->set_task_events(true);
    return Ok("task events enabled");
  }
  if (m == "disable_events") {
    events_->set_task_events(false);
    return Ok("task events disabled");
  }
  if (m == "shutdown") {
    spdlog::warn("Got shutdown from remote");
    RequestWarmShutdown();
    return std::nullopt;
  }
  if (m == "registered") {
    Json names = Json::Array{};
    for (const std::string& name : Registry::Global().Names()) names.Push(name);
    return names;
  }
  if (m == "active_queues") {
    Json queues = Json::Array{};
    for (const std::string& q : options_.queues) queues.Push(QueueInfo(q));
    return queues;
  }
  if (m == "active" || m == "reserved" || m == "scheduled" || m == "revoked") {
    std::lock_guard lock(control_mutex_);
    Json list = Json::Array{};
    if (m == "active") {
      for (const auto& [id, info] : active_requests_) list.Push(info);
    } else if (m == "scheduled") {
      for (const auto& [id, info] : scheduled_requests_) list.Push(info);
    } else if (m == "revoked") {
      for (const std::string& id : revoked_) list.Push(id);
    }
    // reserved: cworker takes a message only when it can start it, so nothing waits here.
    return list;
  }
  if (m == "revoke" || m == "terminate") {
    const std::vector<std::string> ids = TaskIds(args.Find("task_id") ? args.At("task_id") : Json());
    {
      std::lock_guard lock(control_mutex_);
      revoked_.insert(ids.begin(), ids.end());
    }
    const Json* terminate = args.Find("terminate");
    if (m == "terminate" || (terminate != nullptr && terminate->is_bool() && terminate->as_bool())) {
      // Ending a running task by signal needs a process per task: not yet (see docs).
      return Ok("terminate: tasks unknown");
    }
    spdlog::info("Tasks flagged as revoked: {}", Joined(ids));
    return Ok("tasks " + Joined(ids) + " flagged as revoked");
  }
  if (m == "stats") {
    std::lock_guard lock(control_mutex_);
    Json total = Json::MakeObject({});
    for (const auto& [name, count] : totals_) total.Set(name, count);
    const double uptime =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - started_at_).count();
    return Json::MakeObject(
        {{"total", std::move(total)},
         {"pid", static_cast<int64_t>(getpid())},
         {"clock", std::to_string(events_->Tick(0))},
         {"uptime", static_cast<int64_t>(uptime)},
         {"pool", Json::MakeObject({{"implementation", pool_->name()},
                                    {"max-concurrency", options_.concurrency},
                                    {"max-tasks-per-child", options_.max_tasks_per_child > 0
                                                                ? Json(options_.max_tasks_per_child)
                                                                : Json("N/A")}})},
         {"broker", Json::MakeObject({{"hostname", options_.broker.host},
                                      {"port", options_.broker.port},
                                      {"transport", "redis"},
                                      {"virtual_host", std::to_string(options_.broker.db)}})},
         {"prefetch_count", options_.concurrency},
         {"rusage", Rusage()},
         {"sw_ident", "cworker"},
         {"sw_ver", options_.version}});
  }
  if (m == "conf") {
    return Json::MakeObject({{"broker_url", options_.broker.ToString()},
                             {"result_backend", options_.backend ? Json(options_.backend->ToString())
                                                                 : Json()},
                             {"task_acks_late", options_.acks_late},
                             {"task_default_queue", options_.default_queue},
                             {"task_track_started", options_.track_started},
                             {"result_extended", options_.result_extended},
                             {"result_expires", options_.result_expires},
                             {"worker_concurrency", options_.concurrency},
                             {"worker_pool", options_.pool},
                             {"worker_prefetch_multiplier", options_.prefetch_multiplier},
                             {"worker_send_task_events", events_->task_events()},
                             {"task_reject_on_worker_lost", options_.reject_on_worker_lost},
                             {"worker_max_tasks_per_child", options_.max_tasks_per_child},
                             {"worker_max_memory_per_child", options_.max_memory_per_child_kib},
                             {"task_time_limit", options_.time_limit ? Json(*options_.time_limit)
                                                                     : Json()},
                             {"task_soft_time_limit", options_.soft_time_limit
                                                          ? Json(*options_.soft_time_limit)
                                                          : Json()}});
  }
  // Celery's reply for a command it does not have.
  return Json::MakeObject({{"error", "No such command: " + p::PyRepr(Json(m))}});
}

}  // namespace cw::worker

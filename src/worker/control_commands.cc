// Remote control: what the worker answers to `celery inspect ...` / `celery control ...`
// (control/mailbox.h carries the requests and replies). Runs on the mailbox thread, so it
// only touches state under control_mutex_ or atomics.
#include <signal.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <map>

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

Json Nok(const std::string& text) { return Json::MakeObject({{"error", text}}); }

// The signal revoke(terminate=True, signal=...) names: "TERM", "SIGKILL", "9"; default TERM.
std::optional<int> SignalNumber(const Json& arg) {
  if (arg.is_null()) return SIGTERM;
  if (arg.is_int()) return static_cast<int>(arg.as_int());
  if (!arg.is_string()) return std::nullopt;
  std::string name = arg.as_string();
  if (!name.empty() && std::all_of(name.begin(), name.end(), ::isdigit)) return std::stoi(name);
  for (char& c : name) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  if (name.rfind("SIG", 0) == 0) name = name.substr(3);
  static const std::map<std::string, int> kNames = {
      {"TERM", SIGTERM}, {"KILL", SIGKILL}, {"INT", SIGINT},   {"QUIT", SIGQUIT},
      {"HUP", SIGHUP},   {"USR1", SIGUSR1}, {"USR2", SIGUSR2}, {"ABRT", SIGABRT}};
  auto it = kNames.find(name);
  return it == kNames.end() ? std::nullopt : std::optional<int>(it->second);
}

std::optional<double> OptionalSeconds(const Json* arg) {
  if (arg == nullptr || !arg->is_number()) return std::nullopt;
  const double s = arg->as_double();
  return s > 0 ? std::optional<double>(s) : std::nullopt;
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
  return revoked_.Contains(id);
}

void Worker::SaveRevoked() {
  if (options_.statedb.empty()) return;
  try {
    revoked_.Save(options_.statedb);
  } catch (const std::exception& e) {
    spdlog::error("Could not save revoked ids to the state db: {}", e.what());
  }
}

// Celery's revoke: every id joins the revoked set (a task not started yet is discarded when
// it comes); with terminate, running ones are ended where the pool can (prefork: the signal
// to its child; green: cancelled at the next yield point) and stored REVOKED ("terminated").
Json Worker::Revoke(const Json& args, bool terminate) {
  const std::vector<std::string> ids = TaskIds(args.Find("task_id") ? args.At("task_id") : Json());
  std::vector<std::string> terminated;
  {
    std::lock_guard lock(control_mutex_);
    for (const std::string& id : ids) revoked_.Add(id);
    SaveRevoked();
    if (terminate) {
      for (const std::string& id : ids) {
        if (active_requests_.contains(id)) terminated.push_back(id);
      }
    }
  }
  if (!terminate) {
    spdlog::info("Tasks flagged as revoked: {}", Joined(ids));
    return Ok("tasks " + Joined(ids) + " flagged as revoked");
  }
  const std::optional<int> signum = SignalNumber(args.Find("signal") ? args.At("signal") : Json());
  if (!signum) return Nok("unknown signal " + args.At("signal").Dump());
  if (!pool_->can_terminate()) {
    if (!terminated.empty()) {
      spdlog::warn("Cannot terminate {}: the {} pool runs tasks on the worker's own thread",
                   Joined(terminated), pool_->name());
    }
    return Ok("terminate: tasks unknown");
  }
  if (terminated.empty()) return Ok("terminate: tasks unknown");
  for (const std::string& id : terminated) {
    spdlog::info("Terminating {} ({})", id, *signum);
    pool_->TerminateTask(id, *signum);
  }
  return Ok("terminate: " + Joined(terminated));
}

// add_consumer / cancel_consumer: the consumer switches queues before its next fetch (at most
// a second later), as Celery's call_soon does.
Json Worker::ChangeQueues(const std::string& method, const Json& args) {
  const Json* queue = args.Find("queue");
  if (queue == nullptr || !queue->is_string() || queue->as_string().empty()) {
    return Nok("a queue name is required");
  }
  const std::string& q = queue->as_string();
  std::lock_guard lock(control_mutex_);
  const auto it = std::find(queues_.begin(), queues_.end(), q);
  if (method == "add_consumer") {
    if (it == queues_.end()) {
      queues_.push_back(q);
      queues_changed_.store(true);
      spdlog::info("Started consuming from {}", q);
    }
    return Ok("add consumer " + q);
  }
  if (it != queues_.end()) {
    queues_.erase(it);
    queues_changed_.store(true);
    spdlog::info("Cancelled consuming from {}", q);
  }
  return Ok("no longer consuming from " + q);
}

Json Worker::SetRateLimit(const Json& args) {
  const Json* name = args.Find("task_name");
  const Json* rate = args.Find("rate_limit");
  std::string text;
  if (rate != nullptr && rate->is_string()) text = rate->as_string();
  if (rate != nullptr && rate->is_number()) text = fmt::format("{}", rate->as_double());
  std::string error;
  const std::optional<double> per_second = ParseRate(text, &error);
  if (!per_second) return Nok("Invalid rate limit string: ValueError(" + p::PyRepr(Json(error)) + ")");
  const std::string task = name != nullptr && name->is_string() ? name->as_string() : "";
  if (Registry::Global().Find(task) == nullptr) {
    spdlog::error("Rate limit attempt for unknown task {}", task);
    return Nok("unknown task");
  }
  {
    std::lock_guard lock(control_mutex_);
    rate_overrides_[task] = *per_second;
    rate_resets_.insert(task);
  }
  if (*per_second == 0) {
    spdlog::info("Rate limits disabled for tasks of type {}", task);
    return Ok("rate limit disabled successfully");
  }
  spdlog::info("New rate limit for tasks of type {}: {}.", task, text);
  return Ok("new rate limit set successfully");
}

Json Worker::SetTimeLimit(const Json& args) {
  const Json* name = args.Find("task_name");
  const std::string task = name != nullptr && name->is_string() ? name->as_string() : "";
  if (Registry::Global().Find(task) == nullptr) {
    spdlog::error("Change time limit attempt for unknown task {}", task);
    return Nok("unknown task");
  }
  const pools::Limits limits{OptionalSeconds(args.Find("hard")), OptionalSeconds(args.Find("soft"))};
  {
    std::lock_guard lock(control_mutex_);
    limit_overrides_[task] = limits;
  }
  auto shown = [](const std::optional<double>& s) {
    return s ? p::PyFloatRepr(*s) : std::string("None");
  };
  spdlog::info("New time limits for tasks of type {}: soft={} hard={}", task, shown(limits.soft),
               shown(limits.hard));
  return Ok("time limits set successfully");
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
    std::lock_guard lock(control_mutex_);
    Json queues = Json::Array{};
    for (const std::string& q : queues_) queues.Push(QueueInfo(q));
    return queues;
  }
  if (m == "active" || m == "reserved" || m == "scheduled" || m == "revoked") {
    std::lock_guard lock(control_mutex_);
    Json list = Json::Array{};
    if (m == "active") {
      for (const auto& [id, a] : active_requests_) list.Push(RequestInfoJson(*a.msg, a.time_start));
    } else if (m == "scheduled") {
      for (const auto& [id, info] : scheduled_requests_) list.Push(info);
    } else if (m == "revoked") {
      for (const std::string& id : revoked_.Ids()) list.Push(id);
    } else {
      // reserved: the prefetch batch not started yet, then tasks waiting for their rate limit.
      for (const broker::Delivery& d : fetched_) {
        if (Json info = ReservedInfo(d); !info.is_null()) list.Push(std::move(info));
      }
      for (const auto& [id, info] : reserved_requests_) list.Push(info);
    }
    return list;
  }
  if (m == "revoke" || m == "terminate") {
    const Json* terminate = args.Find("terminate");
    return Revoke(args, m == "terminate" || (terminate != nullptr && terminate->is_bool() &&
                                             terminate->as_bool()));
  }
  if (m == "add_consumer" || m == "cancel_consumer") return ChangeQueues(m, args);
  if (m == "rate_limit") return SetRateLimit(args);
  if (m == "time_limit") return SetTimeLimit(args);
  if (m == "pool_grow" || m == "pool_shrink") {
    const Json* n = args.Find("n");
    const int64_t count = n != nullptr && n->is_int() ? n->as_int() : 1;
    if (count < 1) return Nok("n must be at least 1");
    if (const auto why = pool_->Resize(m == "pool_grow" ? static_cast<int>(count)
                                                        : -static_cast<int>(count))) {
      return Nok(*why);
    }
    spdlog::info("Pool {} by {}: concurrency is now {}",
                 m == "pool_grow" ? "grown" : "shrunk", count, pool_->concurrency());
    return Ok(m == "pool_grow" ? "pool will grow" : "pool will shrink");
  }
  // Celery answers these with the exception its worker raised (kombu's "error" reply).
  if (m == "pool_restart") return Json::MakeObject({{"error", "ValueError('Pool restarts not enabled')"}});
  if (m == "autoscale") return Json::MakeObject({{"error", "ValueError('Autoscale not enabled')"}});
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
                                    {"max-concurrency", pool_->concurrency()},
                                    {"max-tasks-per-child", options_.max_tasks_per_child > 0
                                                                ? Json(options_.max_tasks_per_child)
                                                                : Json("N/A")}})},
         {"broker", Json::MakeObject({{"hostname", options_.broker.host},
                                      {"port", options_.broker.port},
                                      {"transport", "redis"},
                                      {"virtual_host", std::to_string(options_.broker.db)}})},
         {"prefetch_count", pool_->concurrency() * std::max(1, options_.prefetch_multiplier)},
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
                             {"worker_concurrency", pool_->concurrency()},
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

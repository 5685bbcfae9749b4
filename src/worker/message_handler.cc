// What the worker does with one delivered message, in Celery's order:
//   decode -> (undecodable: log, ack, FAILURE if the id is known) -> "received" log ->
//   expired? (REVOKED) -> registered? (NotRegistered FAILURE, as Celery) -> ETA in the future?
//   (hold it, message stays in `unacked`) -> run: ack first unless acks_late, STARTED if
//   tracked, execute, follow-ups and state in Celery's order (canvas/continuations.h), log
//   Celery's line, ack after if acks_late.
#include <unistd.h>

#include <cmath>

#include <spdlog/spdlog.h>

#include <cw/protocol/python_repr.h>
#include <cw/protocol/task_encode.h>
#include <cw/protocol/time_format.h>

#include "util/uuid.h"
#include "worker/worker.h"

namespace cw::worker {
namespace p = cw::protocol;

namespace {

// Celery truncates result reprs in log lines to resultrepr_maxsize (1024).
constexpr size_t kResultReprMax = 1024;

const std::string& DisplayName(const p::TaskMessage& msg) {
  return msg.shadow.empty() ? msg.task : msg.shadow;
}

// Seconds as Python prints the countdown it was given: 1 -> "1", 0.1 -> "0.1".
std::string Seconds(double s) {
  double whole = 0;
  if (std::modf(s, &whole) == 0.0 && std::abs(whole) < 1e15) {
    return std::to_string(static_cast<int64_t>(whole));
  }
  return p::PyFloatRepr(s);
}

Json OrNull(const std::string& s) { return s.empty() ? Json() : Json(s); }

}  // namespace

RequestInfo Worker::MakeRequest(const p::TaskMessage& msg, bool with_headers) const {
  RequestInfo r;
  r.id = msg.id;
  r.task = msg.task;
  r.root_id = msg.root_id;
  r.parent_id = msg.parent_id;
  r.group_id = msg.group;
  r.group_index = msg.group_index;
  r.retries = msg.retries;
  r.hostname = options_.nodename;
  r.origin = msg.origin;
  r.reply_to = msg.reply_to;
  r.correlation_id = msg.correlation_id;
  r.eta = msg.eta;
  r.expires = msg.expires;
  r.delivery_info = msg.delivery_info;
  if (with_headers) r.headers = msg.headers;
  return r;
}

void Worker::HandleDelivery(broker::Delivery& d) {
  p::DecodeError error;
  if (options_.max_message_size > 0 && d.payload.size() > options_.max_message_size) {
    // Its body is never decoded (a base64 copy, a JSON tree, the arguments: several times its
    // size in memory); the envelope's headers still name the task for the FAILURE.
    error.kind = p::DecodeError::Kind::kDecodeError;
    error.message = fmt::format(
        "message of {} bytes is larger than this worker accepts ({} bytes, --max-message-size)",
        d.payload.size(), options_.max_message_size);
    if (const Json* headers = d.envelope.doc.Find("headers");
        headers != nullptr && headers->is_object()) {
      const Json* id = headers->Find("id");
      const Json* task = headers->Find("task");
      if (id != nullptr && id->is_string()) error.task_id = id->as_string();
      if (task != nullptr && task->is_string()) error.task_name = task->as_string();
    }
    RejectUndecodable(d, error);
    return;
  }
  // d is this call's alone (popped from fetched_): its parsed envelope is given up to the message.
  std::optional<p::TaskMessage> msg = p::DecodeTaskMessage(std::move(d.envelope), &error);
  if (!msg) {
    RejectUndecodable(d, error);
    return;
  }
  const TaskDescriptor* task = Registry::Global().Find(msg->task);
  if (task == nullptr) {
    // Celery's behaviour, on purpose: reject without requeue and store NotRegistered. A worker
    // must therefore only consume queues whose tasks it has (README: mixed deployments).
    spdlog::error(
        "Received unregistered task of type '{}'.\nThe message has been ignored and discarded.\n\n"
        "Did you load the library that defines this task (-A), or route it to a queue that a "
        "worker with this task consumes?\n\nThe delivery info for this task is:\n{}",
        msg->task, msg->delivery_info.Dump());
    Ack(d.tag);
    StoreFailure(*msg, exec::FailureOutcome("celery.exceptions", "NotRegistered",
                                            Json::MakeArray({msg->task}), false));
    return;
  }
  spdlog::info("Task {}[{}] received", DisplayName(*msg), msg->id);
  metrics_.Count(monitoring::TaskEvent::kReceived, msg->task);
  if (events_->task_events()) {
    events_->SendTask(
        "task-received",
        Json::MakeObject({{"uuid", msg->id},
                          {"name", msg->task},
                          {"args", msg->argsrepr.empty() ? p::PyRepr(msg->args) : msg->argsrepr},
                          {"kwargs",
                           msg->kwargsrepr.empty() ? p::PyRepr(msg->kwargs) : msg->kwargsrepr},
                          {"root_id", OrNull(msg->root_id)},
                          {"parent_id", OrNull(msg->parent_id)},
                          {"retries", msg->retries},
                          {"eta", OrNull(msg->eta)},
                          {"expires", OrNull(msg->expires)}}));
  }
  if (DiscardIfRevoked(*msg, d.tag) || DiscardIfExpired(*msg, d.tag)) return;
  if (!msg->eta.empty()) {
    const auto eta = p::ParseIsoTime(msg->eta);
    if (eta && *eta > std::chrono::system_clock::now()) {
      // Held in memory until due; the message stays in `unacked` meanwhile, as in Celery.
      {
        std::lock_guard lock(control_mutex_);
        const Json* prio = msg->delivery_info.Find("priority");
        scheduled_requests_[msg->id] = Json::MakeObject(
            {{"eta", msg->eta},
             {"priority", prio != nullptr && prio->is_int() ? *prio : Json(int64_t{0})},
             {"request", RequestInfoJson(*msg, 0)}});
      }
      auto held = std::make_unique<Held>(Held{std::move(*msg), d.tag, task});
      eta_queue_.emplace(*eta, std::move(held));
      return;
    }
  }
  if (HoldForRateLimit(*task, *msg, d.tag)) return;
  StartTask(*task, std::move(*msg), std::move(d.tag));  // d is done with here
}

bool Worker::HoldForRateLimit(const TaskDescriptor& task, p::TaskMessage& msg,
                              const std::string& tag) {
  double per_second = 0;
  {
    std::lock_guard lock(control_mutex_);
    if (rate_resets_.erase(task.name) > 0) rate_limiter_.Reset(task.name);
    if (auto o = rate_overrides_.find(task.name); o != rate_overrides_.end()) {
      per_second = o->second;
    } else if (!task.options.rate_limit.empty()) {
      std::string error;
      per_second = ParseRate(task.options.rate_limit, &error).value_or(0);
    }
  }
  if (per_second <= 0) return false;
  const auto now = std::chrono::system_clock::now();
  const auto start = rate_limiter_.Reserve(task.name, per_second, now);
  if (start <= now) return false;
  {
    std::lock_guard lock(control_mutex_);
    reserved_requests_[msg.id] = RequestInfoJson(msg, 0);
  }
  // Waits in memory like an ETA task (its message stays in `unacked`), then runs at its turn.
  eta_queue_.emplace(start, std::make_unique<Held>(Held{std::move(msg), tag, &task, true}));
  return true;
}

void Worker::StartTask(const TaskDescriptor& task, p::TaskMessage msg, std::string tag) {
  std::string label = DisplayName(msg);
  label.reserve(label.size() + msg.id.size() + 2);
  label.append("[").append(msg.id).append("]");
  // The job owns the message and its tag: they live as long as the task runs.
  pool_->Start(
      [this, &task, msg = std::move(msg), tag = std::move(tag)]() mutable {
        try {
          RunTask(task, msg, tag);
        } catch (const std::exception& e) {
          // Not expected (task errors are caught in exec, Redis errors retried): the message
          // stays in `unacked` and goes back to its queue at shutdown.
          spdlog::critical("Unexpected error while running task {}[{}]: {}", DisplayName(msg),
                           msg.id, e.what());
        }
      },
      std::move(label));
}

// Celery's precedence: the message's timelimit header, then the task's own options, then the
// worker's --time-limit / --soft-time-limit.
// The time_limit control command replaces the task's own options, as it does in Celery.
pools::Limits Worker::LimitsFor(const TaskDescriptor& task, const p::TaskMessage& msg) const {
  pools::Limits own{task.options.time_limit, task.options.soft_time_limit};
  {
    std::lock_guard lock(control_mutex_);
    if (auto o = limit_overrides_.find(task.name); o != limit_overrides_.end()) {
      own = o->second;
    }
  }
  pools::Limits limits;
  limits.hard = msg.time_limit ? msg.time_limit : own.hard ? own.hard : options_.time_limit;
  limits.soft = msg.soft_time_limit ? msg.soft_time_limit
                                    : own.soft ? own.soft : options_.soft_time_limit;
  if (limits.hard && *limits.hard <= 0) limits.hard.reset();
  if (limits.soft && *limits.soft <= 0) limits.soft.reset();
  return limits;
}

void Worker::RejectUndecodable(const broker::Delivery& d, const p::DecodeError& error) {
  spdlog::error("Received invalid task message: {}\nThe message has been ignored and discarded.{}",
                error.message,
                error.task_id.empty() ? std::string()
                                      : "\nTask id: " + error.task_id + ", name: " + error.task_name);
  Ack(d.tag);
  if (error.task_id.empty()) return;
  // Celery drops such messages silently and the client waits forever; a FAILURE it can raise
  // is kinder and harmless (nothing else will ever answer this id).
  p::TaskMessage undecoded;  // only what the failed decode still knew
  undecoded.id = error.task_id;
  undecoded.task = error.task_name;
  StoreFailure(undecoded, exec::FailureOutcome(error.exc_module(), error.exc_type(),
                                          Json::MakeArray({error.message}), false));
}

bool Worker::DiscardIfExpired(const p::TaskMessage& msg, const std::string& tag) {
  if (msg.expires.empty()) return false;
  const auto expires = p::ParseIsoTime(msg.expires);
  if (!expires || *expires > std::chrono::system_clock::now()) return false;
  Discard(msg, tag, "expired");
  return true;
}

bool Worker::DiscardIfRevoked(const p::TaskMessage& msg, const std::string& tag) {
  if (!IsRevoked(msg.id)) return false;
  Discard(msg, tag, "revoked");
  return true;
}

// Celery's revoked-task path: log, task-revoked event, REVOKED record (TaskRevokedError with
// the reason: "revoked", "expired", or "terminated" for a running task that revoke ended),
// chord accounting, ack.
void Worker::Discard(const p::TaskMessage& msg, const std::string& tag, const std::string& reason,
                     std::optional<int> signum) {
  if (!signum) spdlog::info("Discarding revoked task: {}[{}]", DisplayName(msg), msg.id);
  metrics_.Count(monitoring::TaskEvent::kRevoked, msg.task);
  events_->SendTask("task-revoked",
                    Json::MakeObject({{"uuid", msg.id},
                                      {"terminated", signum.has_value()},
                                      {"signum", signum ? Json(int64_t{*signum}) : Json()},
                                      {"expired", reason == "expired"}}));
  const p::ExceptionInfo revoked{"TaskRevokedError", "celery.exceptions",
                                 Json::MakeArray({reason})};
  StoreState(msg, "REVOKED", revoked.ToJson(), "");
  try {
    continuations_->OnReady(msg, MakeRequest(msg), "REVOKED", revoked.ToJson());
  } catch (const std::exception& e) {
    spdlog::error("Task {}[{}]: chord accounting failed: {}", DisplayName(msg), msg.id, e.what());
  }
  Ack(tag);
}

void Worker::RunTask(const TaskDescriptor& task, p::TaskMessage& msg,
                     const std::string& tag) {
  const bool acks_late = options_.acks_late || task.options.acks_late;
  if (!acks_late) Ack(tag);  // Celery's default: acknowledged just before it runs
  ++active_;
  {
    std::lock_guard lock(control_mutex_);
    const double now =
        std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch())
            .count();
    const ActiveRequest running{&msg, now};
    auto node = active_nodes_.Take();
    if (node.empty()) {
      active_requests_.insert_or_assign(msg.id, running);
    } else {
      node.key() = msg.id;
      node.mapped() = running;
      auto added = active_requests_.insert(std::move(node));
      if (!added.inserted) added.position->second = running;  // the same id twice at once
    }
    ++totals_[msg.task];
  }
  struct Count {  // "active" and "processed" for events and `inspect`, whatever happens below
    Worker* w;
    const std::string& id;
    ~Count() {
      --w->active_;
      ++w->processed_;
      std::lock_guard lock(w->control_mutex_);
      if (auto it = w->active_requests_.find(id); it != w->active_requests_.end()) {
        w->active_nodes_.Erase(w->active_requests_, it);
      }
    }
  } count{this, msg.id};

  RequestInfo request = MakeRequest(msg, false);
  request.headers = std::move(msg.headers);  // nothing reads the message's copy from here on
  pools::StartHook on_start;
  const bool track = (options_.track_started || task.options.track_started) &&
                     !task.options.ignore_result;
  if (track || events_->task_events()) {
    on_start = [&](int64_t pid) {  // pid: the process running it (a prefork child's)
      events_->SendTask("task-started", Json::MakeObject({{"uuid", msg.id}}));
      if (track) {
        StoreState(msg, "STARTED",
                   Json::MakeObject({{"pid", pid}, {"hostname", options_.nodename}}), "");
      }
    };
  }
  TaskScope scope(*this);  // only what this task sends becomes its children
  exec::Outcome out = pool_->Call(task, request, msg.args, msg.kwargs, &scope.applier,
                                  LimitsFor(task, msg), on_start);
  const std::string name = DisplayName(msg);
  metrics_.ObserveRuntime(msg.task, out.runtime_s);
  if (out.terminated) {  // revoke(terminate=True): REVOKED, never requeued (Celery's Terminated)
    Discard(msg, tag, "terminated", out.terminated);
    return;
  }
  if (out.worker_lost) {
    // billiard's words. Celery's order: with acks_late and reject_on_worker_lost the message
    // goes back to its queue and nothing is stored; otherwise FAILURE (WorkerLostError).
    spdlog::error("Task handler raised error: {}", out.exception_repr);
    const bool reject = acks_late && task.options.reject_on_worker_lost.value_or(
                                         options_.reject_on_worker_lost);
    if (reject) {
      spdlog::warn("Task {}[{}] rejected (requeued): its worker process was lost", name, msg.id);
      metrics_.Count(monitoring::TaskEvent::kRejected, msg.task);
      events_->SendTask("task-rejected",
                        Json::MakeObject({{"uuid", msg.id}, {"requeue", true}}));
      Restore(tag, true);
      return;
    }
    Failed(scope, task, msg, request, out, false);
    if (acks_late) Ack(tag);
    return;
  }
  switch (out.kind) {
    case exec::OutcomeKind::kSuccess:
      Succeeded(scope, task, msg, request, out);
      break;
    case exec::OutcomeKind::kFailure:
      Failed(scope, task, msg, request, out);
      break;
    case exec::OutcomeKind::kReject:
      spdlog::warn("Task {}[{}] rejected ({})", name, msg.id,
                   out.requeue ? "requeued" : "discarded");
      metrics_.Count(monitoring::TaskEvent::kRejected, msg.task);
      events_->SendTask("task-rejected",
                        Json::MakeObject({{"uuid", msg.id}, {"requeue", out.requeue}}));
      if (acks_late && out.requeue) {
        Restore(tag, true);
        return;
      }
      break;
    case exec::OutcomeKind::kIgnore:
      spdlog::info("Task {}[{}] ignored", name, msg.id);
      break;
    case exec::OutcomeKind::kRetry:
      PublishRetry(msg, out);
      break;
  }
  if (acks_late) Ack(tag);
}

// Celery's order: callbacks and the next chain step are sent first (so the record lists them
// as children), then SUCCESS is stored, then the chord hears about it.
void Worker::Succeeded(TaskScope& scope, const TaskDescriptor& task, const p::TaskMessage& msg,
                       const RequestInfo& request, const exec::Outcome& out) {
  Json children;
  try {
    children = scope.continuations.OnSuccess(msg, request, out.result);
  } catch (const std::exception& e) {
    // A follow-up that cannot be sent (malformed signature): Celery fails the task.
    spdlog::error("Task {}[{}] succeeded but its follow-up tasks could not be sent: {}",
                  DisplayName(msg), msg.id, e.what());
    Failed(scope, task, msg, request,
           exec::FailureOutcome("builtins", "RuntimeError",
                                Json::MakeArray({std::string("could not send follow-up tasks: ") +
                                                 e.what()}),
                                true));
    return;
  }
  if (!msg.ignore_result && !task.options.ignore_result) {
    StoreState(msg, "SUCCESS", out.result, "", std::move(children));
  }
  try {
    scope.continuations.OnReady(msg, request, "SUCCESS", out.result);
  } catch (const std::exception& e) {
    spdlog::error("Task {}[{}]: chord accounting failed: {}", DisplayName(msg), msg.id, e.what());
  }
  metrics_.Count(monitoring::TaskEvent::kSucceeded, msg.task);
  // The reprs cost more than the task itself when it is trivial: built only when wanted.
  if (spdlog::should_log(spdlog::level::info)) {
    spdlog::info("Task {}[{}] succeeded in {}s: {}", DisplayName(msg), msg.id,
                 p::PyFloatRepr(out.runtime_s), p::PyReprTruncated(out.result, kResultReprMax));
  }
  if (events_->task_events()) {
    events_->SendTask("task-succeeded",
                      Json::MakeObject({{"uuid", msg.id},
                                        {"result", p::PyReprTruncated(out.result, kResultReprMax)},
                                        {"runtime", out.runtime_s}}));
  }
}

// Store FAILURE (unless the task ignores results), then chord accounting, the same failure for
// the rest of the chain, and the errbacks.
void Worker::Failed(TaskScope& scope, const TaskDescriptor& task, const p::TaskMessage& msg,
                    const RequestInfo& request, const exec::Outcome& out, bool log) {
  metrics_.Count(monitoring::TaskEvent::kFailed, msg.task);
  const bool store = !task.options.ignore_result;
  if (store) {
    StoreState(msg, "FAILURE", out.exception.ToJson(), out.traceback,
               scope.applier.TakeChildren());
  }
  try {
    scope.continuations.OnFailure(msg, request, out.exception.ToJson(), out.traceback, store);
  } catch (const std::exception& e) {
    spdlog::error("Task {}[{}]: failure handling of its canvas failed: {}", DisplayName(msg),
                  msg.id, e.what());
  }
  if (log) {
    spdlog::error("Task {}[{}] raised unexpected: {}\n{}", DisplayName(msg), msg.id,
                  out.exception_repr, out.traceback);
  }
  events_->SendTask("task-failed", Json::MakeObject({{"uuid", msg.id},
                                                     {"exception", out.exception_repr},
                                                     {"traceback", out.traceback}}));
}

// Celery's Task.retry: publish the same task again (same id, retries + 1, an ETA), then store
// RETRY; RunTask acks the message that ran as for any outcome. Should publishing fail, the
// failure is stored instead (Celery rejects the message).
void Worker::PublishRetry(const p::TaskMessage& msg, const exec::Outcome& out) {
  p::TaskMessage next = msg;
  next.retries = msg.retries + 1;
  next.eta = p::FormatIsoUtc(
      out.retry_eta ? *out.retry_eta
                    : std::chrono::system_clock::now() +
                          std::chrono::duration_cast<std::chrono::system_clock::duration>(
                              std::chrono::duration<double>(out.retry_countdown)));
  if (next.parent_id.empty()) next.parent_id = msg.id;  // what Celery 5.2 sends
  next.origin = origin_;
  const Json* rk = msg.delivery_info.Find("routing_key");
  const Json* ex = msg.delivery_info.Find("exchange");
  const Json* prio = msg.delivery_info.Find("priority");
  p::PublishTarget target;
  target.routing_key = rk != nullptr && rk->is_string() && !rk->as_string().empty()
                           ? rk->as_string()
                           : options_.queues.front();
  target.exchange = ex != nullptr && ex->is_string() ? ex->as_string() : "";
  target.priority = prio != nullptr && prio->is_int() ? static_cast<int>(prio->as_int()) : 0;
  target.delivery_tag = util::Uuid4();

  const std::string reason = "Retry in " + Seconds(out.retry_countdown) + "s" +
                             (out.has_exception ? ": " + out.exception_repr : "");
  try {
    transport_->PublishRouted(target.exchange, target.routing_key, target.priority,
                              p::EncodeTaskEnvelope(next, target));
  } catch (const std::exception& e) {
    spdlog::error("Task {}[{}] could not be retried: {}", msg.task, msg.id, e.what());
    StoreFailure(msg, out);
    return;
  }
  Json children = Json::MakeArray({Json::MakeArray({Json::MakeArray({msg.id, Json()}), Json()})});
  StoreState(msg, "RETRY", out.has_exception ? out.exception.ToJson() : Json(),
             out.traceback.empty() ? "" : out.traceback + reason + "\n", std::move(children));
  metrics_.Count(monitoring::TaskEvent::kRetried, msg.task);
  spdlog::info("Task {}[{}] retry: {}", DisplayName(msg), msg.id, reason);
  events_->SendTask("task-retried", Json::MakeObject({{"uuid", msg.id},
                                                      {"exception", out.exception_repr},
                                                      {"traceback", out.traceback}}));
}

void Worker::StoreFailure(const p::TaskMessage& msg, const exec::Outcome& out) {
  StoreState(msg, "FAILURE", out.exception.ToJson(), out.traceback);
}

void Worker::StoreState(const p::TaskMessage& msg, const std::string& status, Json result,
                        const std::string& traceback, Json children) {
  if (!backend_) return;
  p::ResultMeta meta;
  meta.status = status;
  meta.result = std::move(result);
  meta.children = std::move(children);
  if (!traceback.empty()) meta.traceback = traceback;
  const p::DateDoneText now(std::chrono::system_clock::now());
  if (status == "SUCCESS" || status == "FAILURE" || status == "REVOKED") {
    meta.date_done = now.view();
  }
  meta.group_id = msg.group;
  meta.parent_id = msg.parent_id;
  meta.task_id = msg.id;
  if (options_.result_extended) {
    p::ExtendedFields ext;
    ext.name = msg.task;
    ext.args = &msg.args;
    ext.kwargs = &msg.kwargs;
    ext.worker = options_.nodename;
    ext.retries = msg.retries;
    const Json* rk = msg.delivery_info.Find("routing_key");
    if (rk != nullptr && rk->is_string()) ext.queue = rk->as_string();
    meta.extended = ext;
  }
  try {
    backend_->StoreBehind(meta);  // a skipped write (SUCCESS is sticky) is not reported
  } catch (const std::exception& e) {
    spdlog::error("Task {}[{}]: could not store its {} result: {}", msg.task, msg.id, status,
                  e.what());
  }
}

}  // namespace cw::worker

// Running one task call: bind arguments, invoke, and turn whatever happened into an Outcome.
// This is the single place where exceptions from user task code are caught. No IO.
#pragma once

#include <chrono>
#include <optional>
#include <string>

#include <cw/protocol/result_meta.h>
#include <cworker/task.h>

namespace cw::exec {

enum class OutcomeKind {
  kSuccess,  ///< returned: `result` holds the value
  kFailure,  ///< raised: `exception`, `traceback`, `exception_repr`
  kReject,   ///< threw cw::Reject: no state stored; `requeue` says where the message goes
  kIgnore,   ///< threw cw::Ignore: no state stored, message acked
  kRetry,    ///< called ctx.Retry(), or raised an exception in the task's autoretry_for,
             ///< with retries left: republish after `retry_countdown` (or at `retry_eta`)
};

struct Outcome {
  OutcomeKind kind = OutcomeKind::kSuccess;
  Json result;
  protocol::ExceptionInfo exception;
  std::string traceback;       ///< Python-style text for the FAILURE record
  std::string exception_repr;  ///< ValueError('boom'), for logs and events
  bool requeue = false;
  double retry_countdown = 0;  ///< kRetry: seconds until the retry runs
  /// kRetry: when set, the absolute time the retry runs at (RetryOptions::eta); wins over
  /// retry_countdown.
  std::optional<std::chrono::system_clock::time_point> retry_eta;
  bool has_exception = false;  ///< kRetry: `exception` holds the exc given to Retry()
  double runtime_s = 0;  ///< wall time of the call
  /// kFailure: the process running the call died (prefork: WorkerLostError); the message may
  /// be requeued instead (task_reject_on_worker_lost).
  bool worker_lost = false;
  /// The call was ended by `revoke(terminate=True)`: the signal sent (Celery's Terminated).
  std::optional<int> terminated;
};

/// Calls `task` with the request's args (JSON array) and kwargs (JSON object). An exception
/// named in task.options.autoretry_for is retried as Celery's autoretry wrapper does (backoff
/// and jitter from the options; FAILURE with that exception once max_retries is reached).
/// `sender` is what TaskContext::Send uses (nullptr: the task cannot send).
Outcome Execute(const TaskDescriptor& task, const RequestInfo& request, const Json& args,
                const Json& kwargs, Sender* sender = nullptr);

/// A FAILURE outcome for an error raised outside the task (unregistered task, bad message).
Outcome FailureOutcome(std::string exc_module, std::string exc_type, Json exc_args,
                       bool with_traceback);

}  // namespace cw::exec

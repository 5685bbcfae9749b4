#include "exec/executor.h"

#include <cxxabi.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <memory>
#include <new>
#include <optional>
#include <typeinfo>

#include <cw/protocol/python_repr.h>

#include "exec/autoretry.h"

namespace cw::exec {
namespace {

std::string Demangle(const char* name) {
  int status = 0;
  std::unique_ptr<char, void (*)(void*)> out(abi::__cxa_demangle(name, nullptr, nullptr, &status),
                                            &std::free);
  return status == 0 && out ? std::string(out.get()) : std::string(name);
}

// Python's str(exc): the single argument itself, else the repr of the args tuple.
std::string PyStr(const Json& args) {
  if (args.is_array() && args.size() == 1) {
    const Json& only = args.At(size_t{0});
    return only.is_string() ? only.as_string() : protocol::PyRepr(only);
  }
  if (!args.is_array() || args.empty()) return "";
  return protocol::PyTupleRepr(args);
}

// A traceback in Python's layout so AsyncResult.traceback reads naturally; the frame names
// the C++ task because there is no Python frame to show.
std::string Traceback(const std::string& where, const protocol::ExceptionInfo& exc) {
  const std::string qualified =
      exc.exc_module == "builtins" ? exc.exc_type : exc.exc_module + "." + exc.exc_type;
  const std::string text = PyStr(exc.exc_message);
  return "Traceback (most recent call last):\n  File \"<cworker>\", in " + where +
         "\n" + qualified + (text.empty() ? "" : ": " + text) + "\n";
}

Outcome Failure(const std::string& where, std::string module, std::string type, Json args) {
  Outcome out;
  out.kind = OutcomeKind::kFailure;
  out.exception.exc_module = std::move(module);
  out.exception.exc_type = std::move(type);
  out.exception.exc_message = std::move(args);
  out.exception_repr =
      protocol::PyExceptionRepr(out.exception.exc_type, out.exception.exc_message);
  if (!where.empty()) out.traceback = Traceback(where, out.exception);
  return out;
}

// Celery's Task.retry: past max_retries the given exc (or MaxRetriesExceededError) is raised
// as an ordinary failure; otherwise the worker republishes the message.
Outcome RetryOutcome(const TaskDescriptor& task, const RequestInfo& request, const Json& args,
                     const Json& kwargs, const RetryOptions& options, const std::string& where) {
  const int max_retries = options.max_retries.value_or(task.options.max_retries);
  if (max_retries >= 0 && request.retries >= max_retries) {
    if (options.exc) {
      return Failure(where, options.exc->exc_module(), options.exc->exc_type(),
                     options.exc->exc_args());
    }
    return Failure(where, "celery.exceptions", "MaxRetriesExceededError",
                   Json::MakeArray({"Can't retry " + task.name + "[" + request.id +
                                    "] args:" + protocol::PyTupleRepr(args) +
                                    " kwargs:" + protocol::PyRepr(kwargs)}));
  }
  Outcome out;
  if (options.exc) {
    out = Failure(where, options.exc->exc_module(), options.exc->exc_type(),
                  options.exc->exc_args());
    out.has_exception = true;
  }
  out.kind = OutcomeKind::kRetry;
  if (options.eta) {
    // An absolute time wins; the countdown still says how far away it is (for the log line).
    out.retry_eta = options.eta;
    const std::chrono::duration<double> ahead = *options.eta - std::chrono::system_clock::now();
    out.retry_countdown = std::max(0.0, ahead.count());
  } else {
    out.retry_countdown =
        std::max(0.0, options.countdown.value_or(task.options.default_retry_delay));
  }
  return out;
}

// Celery's autoretry_for wrapper around the task's run(): a matching exception becomes
// self.retry(exc=exc, countdown=<backoff>) with the task's max_retries; anything else is the
// task's FAILURE.
Outcome RaisedOutcome(const TaskDescriptor& task, const RequestInfo& request, const Json& args,
                      const Json& kwargs, const TaskError& exc, const std::string& where) {
  const TaskOptions& options = task.options;
  if (!AutoretryMatches(options.autoretry_for, exc.exc_module(), exc.exc_type())) {
    return Failure(where, exc.exc_module(), exc.exc_type(), exc.exc_args());
  }
  RetryOptions retry{.exc = exc};
  if (options.retry_backoff > 0) {
    retry.countdown = BackoffInterval(options.retry_backoff, request.retries,
                                      options.retry_backoff_max, options.retry_jitter);
  }
  return RetryOutcome(task, request, args, kwargs, retry, where);
}

}  // namespace

Outcome FailureOutcome(std::string exc_module, std::string exc_type, Json exc_args,
                       bool with_traceback) {
  return Failure(with_traceback ? "<worker>" : "", std::move(exc_module), std::move(exc_type),
                 std::move(exc_args));
}

Outcome Execute(const TaskDescriptor& task, const RequestInfo& request, const Json& args,
                const Json& kwargs, Sender* sender) {
  const std::string where = task.name + " (C++ task " + task.short_name + ")";
  const auto start = std::chrono::steady_clock::now();
  Outcome out;
  std::optional<TaskError> raised;  // a failure, which autoretry_for may turn into a retry
  try {
    TaskContext ctx(request, sender);
    out.result = task.invoke(ctx, args, kwargs, task);
    out.kind = OutcomeKind::kSuccess;
  } catch (const TaskError& e) {
    raised = e;
  } catch (const RetryRequest& r) {
    out = RetryOutcome(task, request, args, kwargs, r.options, where);
  } catch (const Reject& r) {
    out.kind = OutcomeKind::kReject;
    out.requeue = r.requeue;
  } catch (const Ignore&) {
    out.kind = OutcomeKind::kIgnore;
  } catch (const std::bad_alloc&) {
    raised.emplace("builtins", "MemoryError", Json::Array{});
  } catch (const std::exception& e) {
    // Any other C++ exception: RuntimeError naming the C++ type, so it is still diagnosable
    // from Python.
    raised.emplace("builtins", "RuntimeError", Demangle(typeid(e).name()) + ": " + e.what());
  } catch (...) {
    raised.emplace("builtins", "RuntimeError", std::string("unknown C++ exception"));
  }
  if (raised) out = RaisedOutcome(task, request, args, kwargs, *raised, where);
  out.runtime_s =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return out;
}

}  // namespace cw::exec

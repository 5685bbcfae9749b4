// Exceptions a task throws to produce a FAILURE that a Python client re-raises with the right type.
//
// Celery stores an exception as {"exc_type", "exc_message", "exc_module"}; a Python client that
// calls .get() rebuilds `exc_module.exc_type(*exc_message)` (synthesising the class when it
// cannot import the module). So `throw cw::ValueError("bad")` in C++ makes
// `add.delay(...).get()` raise Python's builtin ValueError('bad').
#pragma once

#include <stdexcept>
#include <string>
#include <utility>

#include <cworker/json.h>

namespace cw {

/// A task failure with Celery's exception triple. Derive from it, or throw it directly with a
/// custom module/type name (the Python client synthesises a class of that name).
class TaskError : public std::exception {
 public:
  /// One message argument: exc_message = [message].
  TaskError(std::string exc_module, std::string exc_type, std::string message)
      : module_(std::move(exc_module)),
        type_(std::move(exc_type)),
        args_(Json::MakeArray({Json(message)})),
        what_(type_ + ": " + message) {}
  /// Arbitrary exception args: exc_message = args (KeyError('k', 2) is {"k", 2}).
  TaskError(std::string exc_module, std::string exc_type, Json::Array args)
      : module_(std::move(exc_module)), type_(std::move(exc_type)), args_(std::move(args)) {
    what_ = type_ + ": " + args_.Dump();
  }

  const std::string& exc_module() const { return module_; }
  const std::string& exc_type() const { return type_; }
  /// The exception's args as a JSON array (Celery's exc_message).
  const Json& exc_args() const { return args_; }
  const char* what() const noexcept override { return what_.c_str(); }

 private:
  std::string module_;
  std::string type_;
  Json args_;
  std::string what_;
};

#define CW_DEFINE_BUILTIN_ERROR(Name)                                                    \
  class Name : public TaskError {                                                        \
   public:                                                                               \
    explicit Name(std::string message) : TaskError("builtins", #Name, std::move(message)) {} \
  }

CW_DEFINE_BUILTIN_ERROR(Exception);
CW_DEFINE_BUILTIN_ERROR(ValueError);
CW_DEFINE_BUILTIN_ERROR(TypeError);
CW_DEFINE_BUILTIN_ERROR(KeyError);
CW_DEFINE_BUILTIN_ERROR(IndexError);
CW_DEFINE_BUILTIN_ERROR(RuntimeError);
CW_DEFINE_BUILTIN_ERROR(TimeoutError);
CW_DEFINE_BUILTIN_ERROR(ConnectionError);
CW_DEFINE_BUILTIN_ERROR(ZeroDivisionError);
CW_DEFINE_BUILTIN_ERROR(NotImplementedError);
CW_DEFINE_BUILTIN_ERROR(OverflowError);

#undef CW_DEFINE_BUILTIN_ERROR

/// Raised inside a task when its soft time limit passes (--soft-time-limit, the task's
/// soft_time_limit option, or the message's): catch it to clean up and return, as in Celery. It
/// is billiard's exception, so a Python client re-raises celery.exceptions.SoftTimeLimitExceeded.
/// The prefork pool raises it at the next check or yield point; the green pool at the next
/// yield point (a sleep, an HTTP or Redis call, an fd wait).
class SoftTimeLimitExceeded : public TaskError {
 public:
  SoftTimeLimitExceeded() : TaskError("billiard.exceptions", "SoftTimeLimitExceeded", Json::Array{}) {}
};

/// Control flow: reject the message without storing a state (Celery's `Reject`). With
/// requeue=true the message goes back to its queue.
struct Reject {
  bool requeue = false;
  std::string reason;
};

/// Control flow: store nothing and ack the message (Celery's `Ignore`).
struct Ignore {};

}  // namespace cw

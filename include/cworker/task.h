// Writing tasks: plain C++ functions registered with one line each, like Python's @app.task.
//
//   CW_MODULE("tasks");                                   // once per library: the Celery module name
//   int64_t add(int64_t x, int64_t y) { return x + y; }
//   CW_TASK(add, .arg_names = {"x", "y"});                // published as "tasks.add"
//
// A task function takes, in this order:
//   - optionally `cw::TaskContext&` first (Celery's bind=True: the request's id, retries, ...);
//   - zero or more decodable parameters: bool, integers, double, std::string, std::optional<T>,
//     std::vector<T>, std::map<std::string, T>, cw::Json, or a user type with FromJson (json.h);
//   - optionally `const cw::Args&` (Python's *args) and then `const cw::Kwargs&` (**kwargs).
// It returns void (stored as None), cw::Json, or any type ToJson accepts.
//
// Arguments bind like Python's: positional first, then keyword arguments by name when
// `.arg_names` is given. A wrong count or type raises a TypeError FAILURE worded as Python words
// it ("add() missing 1 required positional argument: 'y'"); the worker never crashes on it.
// Overloaded task functions are a compile error (take the address of one function).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <tuple>
#include <type_traits>
#include <utility>
#include <vector>

#include <chrono>

#include <cworker/canvas.h>
#include <cworker/errors.h>
#include <cworker/json.h>

namespace cw {

/// Per-task options, with Celery's names and defaults. Use designated initialisers in
/// declaration order: CW_TASK(fn, .name = "x.y", .arg_names = {"a"}, .ignore_result = true).
struct TaskOptions {
  std::string name;                    ///< full task name; default "<module>.<function>"
  std::vector<std::string> arg_names;  ///< parameter names, for kwargs and error messages
  int max_retries = 3;
  double default_retry_delay = 180.0;  ///< seconds
  std::optional<double> time_limit;       ///< seconds (hard); enforced by pools that can
  std::optional<double> soft_time_limit;  ///< seconds (soft)
  bool acks_late = false;
  bool ignore_result = false;
  bool track_started = false;
  /// Queue for this task when the worker's routes do not name one (Celery's Task.queue).
  std::string queue;
  /// Retry automatically when the task raises one of these exceptions (Celery's
  /// autoretry_for). Names are exc_type ("ValueError") or "module.Type" ("tasks.ApiDown");
  /// "Exception" matches every failure.
  std::vector<std::string> autoretry_for;
  /// Exponential backoff for automatic retries (Celery's retry_backoff): 0 = off (the
  /// countdown is default_retry_delay); otherwise the first delay in seconds, doubled per retry.
  double retry_backoff = 0;
  double retry_backoff_max = 600;  ///< seconds, cap of the backoff (retry_backoff_max)
  bool retry_jitter = true;        ///< full jitter: a random delay in [0, backoff] (retry_jitter)
  /// With acks_late: when the process running the task dies (prefork), put the message back
  /// on its queue instead of storing WorkerLostError (Celery's reject_on_worker_lost; unset:
  /// the worker's task_reject_on_worker_lost).
  std::optional<bool> reject_on_worker_lost;
  /// At most this many starts of this task per second/minute/hour on this worker: "10/s",
  /// "100/m", "1000/h", or a bare number per second; empty = no limit (Celery's rate_limit).
  /// Changed at run time by `celery control rate_limit`.
  std::string rate_limit;
};

/// What the worker knows about the message being executed (Celery's `self.request`).
struct RequestInfo {
  std::string id;
  std::string task;
  std::string root_id;
  std::string parent_id;  ///< empty when null
  std::string group_id;   ///< empty when null
  std::optional<int64_t> group_index;
  int64_t retries = 0;
  std::string hostname;  ///< worker node name
  std::string origin;
  std::string reply_to;
  std::string correlation_id;
  std::string eta;      ///< ISO text or empty
  std::string expires;  ///< ISO text or empty
  Json delivery_info;   ///< {"exchange", "routing_key", "priority", "redelivered"}
  Json headers;         ///< every header of the message, as received
};

/// How to retry (Celery's `self.retry(countdown=..., max_retries=..., exc=...)`).
struct RetryOptions {
  /// Seconds until the retry runs; default: the task's default_retry_delay.
  std::optional<double> countdown;
  /// An absolute time to run the retry at (wins over countdown, as in Celery).
  std::optional<std::chrono::system_clock::time_point> eta;
  /// Overrides the task's max_retries for this call; a negative value retries without limit.
  std::optional<int> max_retries;
  /// Stored in the RETRY record, and raised as the FAILURE once retries are exhausted (else
  /// celery.exceptions.MaxRetriesExceededError is).
  std::optional<TaskError> exc;
};

/// Thrown by TaskContext::Retry and caught by the worker; task code lets it pass.
struct RetryRequest {
  RetryOptions options;
};

/// The C++ form of Celery's bound task `self`: request fields for the running task.
/// Valid only during the call it was passed to.
class TaskContext {
 public:
  /// Ends the task and asks the worker to run it again later: the message is republished with
  /// the same id, retries + 1 and an ETA, and the RETRY state is stored (Celery's self.retry).
  /// When retries are exhausted the task fails instead. Never returns.
  [[noreturn]] void Retry(RetryOptions options = {}) const {
    throw RetryRequest{std::move(options)};
  }

  /// Sends a signature from inside this task (Celery's sig.apply_async() in a task): the new
  /// message gets parent_id = this task, root_id = this task's root, and is routed by the
  /// worker's routes. Returns the id to wait on (see Sender::Apply). Throws std::logic_error
  /// when the task runs without a worker (tests calling the function directly).
  std::string Send(const Signature& sig) const;
  /// Celery's send_task: Send(Signature(name, args, kwargs)) with apply_async options.
  std::string SendTask(std::string name, Json args = Json::Array{}, Json kwargs = Json::Object{},
                       const Json& options = Json::Object{}) const;
  /// SendTask("pyside.double", {21}): positional arguments as a brace list.
  std::string SendTask(std::string name, std::initializer_list<Json> args,
                       Json kwargs = Json::Object{}, const Json& options = Json::Object{}) const {
    return SendTask(std::move(name), Json(Json::Array(args)), std::move(kwargs), options);
  }

  explicit TaskContext(const RequestInfo& request, Sender* sender = nullptr)
      : request_(request), sender_(sender) {}
  const std::string& id() const { return request_.id; }
  const std::string& name() const { return request_.task; }
  int64_t retries() const { return request_.retries; }
  const std::string& root_id() const { return request_.root_id; }
  const std::string& parent_id() const { return request_.parent_id; }
  const std::string& group_id() const { return request_.group_id; }
  const std::string& hostname() const { return request_.hostname; }
  const RequestInfo& request() const { return request_; }

 private:
  const RequestInfo& request_;
  Sender* sender_;
};

/// Extra positional arguments (Python's *args): what the named parameters did not take.
class Args {
 public:
  Args() : values_(Json::Array{}) {}
  explicit Args(Json array) : values_(std::move(array)) {}
  size_t size() const { return values_.size(); }
  const Json& operator[](size_t i) const { return values_.At(i); }
  const Json& ToJson() const { return values_; }

 private:
  Json values_;
};

/// Extra keyword arguments (Python's **kwargs), in the order the producer sent them.
class Kwargs {
 public:
  Kwargs() : values_(Json::Object{}) {}
  explicit Kwargs(Json object) : values_(std::move(object)) {}
  size_t size() const { return values_.size(); }
  const Json* Find(std::string_view key) const { return values_.Find(key); }
  const Json& ToJson() const { return values_; }

 private:
  Json values_;
};

struct TaskDescriptor;
/// Calls a task function: binds args/kwargs, runs it, encodes the result. Throws TaskError
/// (TypeError on bad arguments) or whatever the task throws.
using TaskInvoker = Json (*)(TaskContext&, const Json& args, const Json& kwargs,
                             const TaskDescriptor&);

/// One registered task.
struct TaskDescriptor {
  std::string name;        ///< full name, e.g. "tasks.add"
  std::string short_name;  ///< the C++ function name, e.g. "add"
  TaskOptions options;
  TaskInvoker invoke = nullptr;
};

/// All tasks known to this process. Owned by libcworker.so so the worker and every task
/// library share one instance.
class Registry {
 public:
  static Registry& Global();
  /// Tasks registered by static registrars since the last CommitModule(), not yet named.
  void AddPending(TaskDescriptor task);
  /// Gives pending tasks their full names ("<module>.<short>" unless options.name is set).
  /// Returns the names committed. Throws std::runtime_error on a duplicate name.
  std::vector<std::string> CommitModule(const std::string& module_name);
  /// Registers a task under a full name directly (tests, built-ins).
  void Add(TaskDescriptor task);
  const TaskDescriptor* Find(std::string_view name) const;
  std::vector<std::string> Names() const;  ///< sorted
  void ClearForTest();

 private:
  std::vector<TaskDescriptor> pending_;
  std::vector<TaskDescriptor> tasks_;
};

namespace detail {

template <class T>
using Bare = std::remove_cv_t<std::remove_reference_t<T>>;

template <class T>
inline constexpr bool kIsContext = std::is_same_v<T, TaskContext&>;
template <class T>
inline constexpr bool kIsArgs = std::is_same_v<Bare<T>, Args>;
template <class T>
inline constexpr bool kIsKwargs = std::is_same_v<Bare<T>, Kwargs>;
template <class T>
struct IsOptional : std::false_type {};
template <class T>
struct IsOptional<std::optional<T>> : std::true_type {};

/// Where each decodable parameter's value came from, after Python-style binding.
struct BoundArgs {
  std::vector<const Json*> values;  ///< one per decodable parameter; nullptr = missing
  Json extra_args;                  ///< leftovers for cw::Args
  Json extra_kwargs;                ///< leftovers for cw::Kwargs
};

/// Python's binding rules; throws cw::TypeError with Python's wording. `optional_from` is the
/// index of the first parameter that may be missing (all after it are optional too).
BoundArgs BindArguments(const TaskDescriptor& task, const Json& args, const Json& kwargs,
                        size_t n_params, const std::vector<bool>& optional, bool takes_args,
                        bool takes_kwargs);
/// Rethrows a conversion failure of parameter `index` as TypeError naming the parameter.
[[noreturn]] void ThrowArgumentType(const TaskDescriptor& task, size_t index, const char* what);

template <class T>
T DecodeParam(const TaskDescriptor& task, const BoundArgs& bound, size_t index) {
  const Json* v = bound.values[index];
  if (v == nullptr) return T{};  // a missing std::optional parameter
  try {
    T out{};
    FromJson(*v, &out);
    return out;
  } catch (const JsonError& e) {
    ThrowArgumentType(task, index, e.what());
  }
}

/// True when parameter `Pos` exists and is (a reference to) T. Pos may have wrapped around.
template <class Params, size_t Pos, class T>
constexpr bool ParamIs() {
  if constexpr (Pos < std::tuple_size_v<Params>) {
    return std::is_same_v<Bare<std::tuple_element_t<Pos, Params>>, T>;
  } else {
    return false;
  }
}

template <class Fn>
struct FnTraits;
template <class R, class... P>
struct FnTraits<R (*)(P...)> {
  using Result = R;
  using Params = std::tuple<P...>;
  static constexpr size_t kCount = sizeof...(P);
};

template <auto F>
Json InvokeTask(TaskContext& ctx, const Json& args, const Json& kwargs,
                const TaskDescriptor& task) {
  using Traits = FnTraits<decltype(F)>;
  using Params = typename Traits::Params;
  constexpr size_t kCount = Traits::kCount;
  constexpr bool kHasCtx = [] {
    if constexpr (kCount > 0) return kIsContext<std::tuple_element_t<0, Params>>;
    return false;
  }();
  constexpr bool kHasKwargs = [] {
    if constexpr (kCount > 0) return kIsKwargs<std::tuple_element_t<kCount - 1, Params>>;
    return false;
  }();
  constexpr bool kHasArgs = ParamIs<Params, kCount - (kHasKwargs ? 1 : 0) - 1, Args>();
  constexpr size_t kFirst = kHasCtx ? 1 : 0;
  constexpr size_t kDecodable = kCount - kFirst - (kHasArgs ? 1 : 0) - (kHasKwargs ? 1 : 0);

  const std::vector<bool> optional = []<size_t... I>(std::index_sequence<I...>) {
    return std::vector<bool>{IsOptional<Bare<std::tuple_element_t<kFirst + I, Params>>>::value...};
  }(std::make_index_sequence<kDecodable>{});

  const BoundArgs bound =
      BindArguments(task, args, kwargs, kDecodable, optional, kHasArgs, kHasKwargs);
  const Args extra_args(bound.extra_args);
  const Kwargs extra_kwargs(bound.extra_kwargs);

  auto param = [&]<size_t I>(std::integral_constant<size_t, I>) -> decltype(auto) {
    using P = std::tuple_element_t<I, Params>;
    if constexpr (kIsContext<P>) {
      return static_cast<TaskContext&>(ctx);
    } else if constexpr (kIsArgs<P>) {
      return static_cast<const Args&>(extra_args);
    } else if constexpr (kIsKwargs<P>) {
      return static_cast<const Kwargs&>(extra_kwargs);
    } else {
      return DecodeParam<Bare<P>>(task, bound, I - kFirst);
    }
  };
  return [&]<size_t... I>(std::index_sequence<I...>) -> Json {
    if constexpr (std::is_void_v<typename Traits::Result>) {
      F(param(std::integral_constant<size_t, I>{})...);
      return Json();
    } else {
      return ToJson(F(param(std::integral_constant<size_t, I>{})...));
    }
  }(std::make_index_sequence<kCount>{});
}

/// Static registrar behind CW_TASK (gtest's TEST() model).
struct TaskRegistrar {
  TaskRegistrar(const char* short_name, TaskInvoker invoke, TaskOptions options) {
    Registry::Global().AddPending(TaskDescriptor{"", short_name, std::move(options), invoke});
  }
};

/// What CW_MODULE exports: checked by the loader before any task is used.
struct ModuleInfo {
  int abi_version;
  const char* module_name;
};
// Bumped whenever a struct a task library shares with the worker changes layout (2: TaskOptions
// gained reject_on_worker_lost; 3: rate_limit).
inline constexpr int kAbiVersion = 3;

}  // namespace detail
}  // namespace cw

/// Registers `fn` as a task. Options are TaskOptions designated initialisers.
#define CW_TASK(fn, ...)                                                              \
  [[maybe_unused]] static const ::cw::detail::TaskRegistrar cw_task_registrar_##fn( \
      #fn, &::cw::detail::InvokeTask<&fn>, ::cw::TaskOptions{__VA_ARGS__})

/// Names the Celery module this library implements ("tasks" -> "tasks.add"). Exactly once per
/// library; exports the handshake symbol the worker's loader checks.
#define CW_MODULE(name)                                                         \
  extern "C" __attribute__((visibility("default"))) const ::cw::detail::ModuleInfo* \
  cworker_module_v1() {                                                         \
    static const ::cw::detail::ModuleInfo info{::cw::detail::kAbiVersion, name};  \
    return &info;                                                               \
  }                                                                             \
  static_assert(true, "")

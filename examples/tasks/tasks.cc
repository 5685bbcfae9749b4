// The example task library, libtasks.so: `cworker -A tasks` serves these as "tasks.<name>",
// the names a Python producer uses through the twin module python_fixtures/tasks.py.
#include <cstdint>
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <numeric>
#include <string>
#include <vector>

#include <cworker/cworker.h>

using namespace std::chrono_literals;

CW_MODULE("tasks");

// [add]
int64_t add(int64_t x, int64_t y) { return x + y; }
CW_TASK(add, .arg_names = {"x", "y"});
// [add]

int64_t mul(int64_t x, int64_t y) { return x * y; }
CW_TASK(mul, .arg_names = {"x", "y"});

// Sum of a list of numbers; an int stays an int, any float makes the sum a float (Python's sum).
cw::Json xsum(const std::vector<cw::Json>& numbers) {
  int64_t int_sum = 0;
  double float_sum = 0;
  bool any_float = false;
  for (const cw::Json& n : numbers) {
    if (n.is_int()) {
      int_sum += n.as_int();
    } else if (n.is_double()) {
      any_float = true;
      float_sum += n.as_double();
    } else {
      throw cw::TypeError(std::string("unsupported operand type(s) for +: 'int' and '") +
                          n.python_type_name() + "'");
    }
  }
  return any_float ? cw::Json(float_sum + static_cast<double>(int_sum)) : cw::Json(int_sum);
}
CW_TASK(xsum, .arg_names = {"numbers"});

// [sum_numbers]
// Chord body in the article's experiment: Celery passes the header results as one list.
int64_t sum_numbers(const std::vector<int64_t>& numbers) {
  return std::accumulate(numbers.begin(), numbers.end(), int64_t{0});
}
CW_TASK(sum_numbers, .arg_names = {"numbers"});
// [sum_numbers]

// [echo]
// Python: def echo(*args, **kwargs): return {"args": args, "kwargs": kwargs}
cw::Json echo(const cw::Args& args, const cw::Kwargs& kwargs) {
  return cw::Json::MakeObject({{"args", args.ToJson()}, {"kwargs", kwargs.ToJson()}});
}
CW_TASK(echo);
// [echo]

// [fail]
// Python: raise ValueError(message)  ->  the caller's .get() raises ValueError.
void fail(const std::string& message) { throw cw::ValueError(message); }
CW_TASK(fail, .arg_names = {"message"});
// [fail]

// Sleeps, then returns `seconds` as it was given (an int stays an int, as in the Python twin).
static cw::Json SleepThenReturn(const char* task, const cw::Json& seconds) {
  if (!seconds.is_number()) {
    throw cw::TypeError(std::string(task) + "() argument 'seconds': expected a number, got " +
                        seconds.python_type_name());
  }
  cw::SleepFor(std::chrono::duration<double>(seconds.as_double()));
  return seconds;
}

cw::Json sleep(const cw::Json& seconds) { return SleepThenReturn("sleep", seconds); }
CW_TASK(sleep, .arg_names = {"seconds"});

// Stores STARTED when it begins (track_started=True).
cw::Json tracked_sleep(const cw::Json& seconds) {
  return SleepThenReturn("tracked_sleep", seconds);
}
CW_TASK(tracked_sleep, .arg_names = {"seconds"}, .track_started = true);

// Acked only once it has finished (acks_late=True).
cw::Json late_sleep(const cw::Json& seconds) { return SleepThenReturn("late_sleep", seconds); }
CW_TASK(late_sleep, .arg_names = {"seconds"}, .acks_late = true);

// Stores no result (ignore_result=True).
int64_t quiet_add(int64_t x, int64_t y) { return x + y; }
CW_TASK(quiet_add, .arg_names = {"x", "y"}, .ignore_result = true);

// [special_add]
// Python: @app.task(queue="special"): add.delay() sends it to queue "special".
int64_t special_add(int64_t x, int64_t y) { return x + y; }
CW_TASK(special_add, .arg_names = {"x", "y"}, .queue = "special");
// [special_add]

// An old-style errback (link_error=on_error.s()): Celery sends it the failed task's id.
std::string on_error(const std::string& task_id) { return "handled " + task_id; }
CW_TASK(on_error, .arg_names = {"task_id"});

// [get_number]
// The article's chord header: one call to a slow HTTP API.
int64_t get_number() {
  const std::string url = cw::GetEnv("NUMBER_API_URL", "http://localhost:8000");
  const cw::http::Response resp = cw::http::Get(url, {.timeout = 120s});
  if (resp.status != 200) {
    throw cw::ConnectionError("number API answered HTTP " + std::to_string(resp.status));
  }
  return cw::Json::Parse(resp.body).At("number").As<int64_t>();
}
CW_TASK(get_number);
// [get_number]

// [soft_limited]
// Python: except SoftTimeLimitExceeded: return "cleaned up" — a soft time limit (--soft-time-limit
// or soft_time_limit=...) interrupts the sleep and the task cleans up and returns.
std::string soft_limited(double seconds) {
  try {
    cw::SleepFor(std::chrono::duration<double>(seconds));
  } catch (const cw::SoftTimeLimitExceeded&) {
    return "cleaned up";
  }
  return "finished";
}
CW_TASK(soft_limited, .arg_names = {"seconds"});
// [soft_limited]

// [count_visit]
// Python: redis.Redis.from_url(broker_url).incr(key). Returns the new count.
int64_t count_visit(const std::string& key) {
  return cw::redis::Command({"INCR", key}).As<int64_t>();
}
CW_TASK(count_visit, .arg_names = {"key"});
// [count_visit]

// INCR `key`, then sleep: a task that leaves a trace the moment it starts (the kill tests count
// how many times each one ran). Returns the count.
int64_t visit_slowly(const std::string& key, double seconds) {
  const auto count = cw::redis::Command({"INCR", key}).As<int64_t>();
  cw::SleepFor(std::chrono::duration<double>(seconds));
  return count;
}
CW_TASK(visit_slowly, .arg_names = {"key", "seconds"});

// CPU-bound work: n rounds of xorshift64 (Marsaglia), same numbers as the Python twin.
int64_t cpu(int64_t n) {
  uint64_t x = 88172645463325252ULL;
  for (int64_t i = 0; i < n; ++i) {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
  }
  return static_cast<int64_t>(x & 0x7fffffffffffffffULL);
}
CW_TASK(cpu, .arg_names = {"n"});

// [retry_until]
// Python: @app.task(bind=True) ... raise self.retry(countdown=0.1, max_retries=...)
int64_t retry_until(cw::TaskContext& ctx, int64_t n) {
  if (ctx.retries() < n) {
    ctx.Retry({.countdown = 0.1, .max_retries = static_cast<int>(std::max<int64_t>(n, 3) + 1)});
  }
  return ctx.retries();
}
CW_TASK(retry_until, .arg_names = {"n"});
// [retry_until]

// Retries without an exc and with max_retries=2: the third run raises
// celery.exceptions.MaxRetriesExceededError, as Celery's self.retry() does.
void retry_forever(cw::TaskContext& ctx) { ctx.Retry({.countdown = 0.05, .max_retries = 2}); }
CW_TASK(retry_forever);

// [flaky]
// Python: @app.task(bind=True, autoretry_for=(ValueError,), max_retries=5, retry_backoff=1,
//                   retry_backoff_max=1, retry_jitter=False)
int64_t flaky(cw::TaskContext& ctx, int64_t n) {
  if (ctx.retries() < n) throw cw::ValueError("flaky attempt " + std::to_string(ctx.retries()));
  return ctx.retries();
}
CW_TASK(flaky, .arg_names = {"n"}, .max_retries = 5, .autoretry_for = {"ValueError"},
        .retry_backoff = 1, .retry_backoff_max = 1, .retry_jitter = false);
// [flaky]

// Python: raise self.retry(countdown=0.1, max_retries=n, exc=ValueError(f"attempt {retries}"))
// After n retries the task fails with that exception: ValueError('attempt n').
void retry_exc(cw::TaskContext& ctx, int64_t n) {
  ctx.Retry({.countdown = 0.1,
             .max_retries = static_cast<int>(n),
             .exc = cw::ValueError("attempt " + std::to_string(ctx.retries()))});
}
CW_TASK(retry_exc, .arg_names = {"n"});

// Python: raise self.retry(eta=now + timedelta(seconds=0.2), max_retries=n + 1)
int64_t retry_eta(cw::TaskContext& ctx, int64_t n) {
  if (ctx.retries() < n) {
    ctx.Retry({.eta = std::chrono::system_clock::now() + 200ms,
               .max_retries = static_cast<int>(n + 1)});
  }
  return ctx.retries();
}
CW_TASK(retry_eta, .arg_names = {"n"});

// [send_python]
// Python: return self.app.send_task("pyside.double", args=(x,)).id
// The worker's routes pick the queue ("pyside.*" -> "python" in the twin's configuration).
std::string send_python(cw::TaskContext& ctx, const cw::Json& x) {
  return ctx.SendTask("pyside.double", cw::Json::MakeArray({x}));
}
CW_TASK(send_python, .arg_names = {"x"});
// [send_python]

// [send_chain]
// Python: return chain(signature("tasks.add", (x, 1)), signature("pyside.double"),
//                      signature("tasks.mul", (10,))).apply_async().id
// Returns the chain's result id (its last task's): it ends with (x + 1) * 2 * 10.
std::string send_chain(cw::TaskContext& ctx, const cw::Json& x) {
  return ctx.Send(cw::Chain({cw::Signature("tasks.add", cw::Json::MakeArray({x, 1})),
                             cw::Signature("pyside.double"),
                             cw::Signature("tasks.mul", cw::Json::MakeArray({10}))}));
}
CW_TASK(send_chain, .arg_names = {"x"});
// [send_chain]

// Kills the process running it: in the solo pool that is the worker itself, as in Python's
// solo pool; the prefork pool isolates it.
[[noreturn]] void crash() { std::abort(); }
CW_TASK(crash);

// Counts its runs in Redis (INCR key) and aborts its process on the first one; returns the
// count on a later run (a requeued message: task_reject_on_worker_lost).
int64_t crash_once(const std::string& key) {
  const int64_t runs = cw::redis::Command({"INCR", key}).As<int64_t>();
  if (runs == 1) std::abort();
  return runs;
}
CW_TASK(crash_once, .arg_names = {"key"}, .acks_late = true);

// This process's id. (Not getpid(): <unistd.h> would declare a sleep() beside our task.)
static int64_t ProcessId() { return std::stoll(std::filesystem::read_symlink("/proc/self")); }

// The id of the process running the task (a prefork child's; the worker's own in solo/green).
int64_t pid() { return ProcessId(); }
CW_TASK(pid);

// Allocates `mib` MiB, touches every page and keeps it for the life of the process: a leaky
// task, for --max-memory-per-child. Returns the process id.
int64_t hog(int64_t mib) {
  static std::vector<std::vector<char>> kept;
  kept.emplace_back(static_cast<size_t>(mib) * 1024 * 1024, 'x');
  return ProcessId();
}
CW_TASK(hog, .arg_names = {"mib"});

// Prints `text` on stdout (in a prefork child that is the worker's stderr); returns its length.
int64_t shout(const std::string& text) {
  std::printf("%s\n", text.c_str());
  std::fflush(stdout);
  return static_cast<int64_t>(text.size());
}
CW_TASK(shout, .arg_names = {"text"});

// [spin]
// CPU-bound work that honours a soft time limit: cw::Checkpoint() is where the limit raises.
// Python: busy loop; except SoftTimeLimitExceeded: return "cleaned up".
std::string spin(double seconds) {
  const auto end = std::chrono::steady_clock::now() + std::chrono::duration<double>(seconds);
  try {
    uint64_t x = 88172645463325252ULL;
    while (std::chrono::steady_clock::now() < end) {
      for (int i = 0; i < 10000; ++i) {  // a few microseconds of xorshift64 between checks
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
      }
      cw::Checkpoint();
    }
    if (x == 0) return "impossible";  // keeps the loop from being optimised away
  } catch (const cw::SoftTimeLimitExceeded&) {
    return "cleaned up";
  }
  return "finished";
}
CW_TASK(spin, .arg_names = {"seconds"});
// [spin]

#include "exec/executor.h"

#include <chrono>
#include <cmath>
#include <stdexcept>

#include "exec/autoretry.h"

#include <gtest/gtest.h>

namespace {

int64_t add(int64_t x, int64_t y) { return x + y; }
void raises_value_error(const std::string& m) { throw cw::ValueError(m); }
void raises_custom() { throw cw::TaskError("myapp.errors", "PaymentDeclined", "card 42"); }
void raises_std() { throw std::out_of_range("index 7"); }
void raises_int() { throw 42; }
void rejects() { throw cw::Reject{.requeue = true}; }
void ignores() { throw cw::Ignore{}; }

template <auto F>
cw::TaskDescriptor Describe(const char* name, cw::TaskOptions options = {}) {
  return cw::TaskDescriptor{std::string("tasks.") + name, name, std::move(options),
                            &cw::detail::InvokeTask<F>};
}

cw::exec::Outcome RunTask(const cw::TaskDescriptor& task, const char* args) {
  cw::RequestInfo request;
  request.id = "t1";
  return cw::exec::Execute(task, request, cw::Json::Parse(args), cw::Json::Object{});
}

TEST(Execute, ReturnsTheEncodedResult) {
  const auto out = RunTask(Describe<&add>("add"), "[2, 2]");
  EXPECT_EQ(out.kind, cw::exec::OutcomeKind::kSuccess);
  EXPECT_EQ(out.result, cw::Json(4));
  EXPECT_GE(out.runtime_s, 0.0);
}

TEST(Execute, MapsBuiltinErrorsToCeleryTriple) {
  const auto out = RunTask(Describe<&raises_value_error>("fail"), R"(["boom"])");
  ASSERT_EQ(out.kind, cw::exec::OutcomeKind::kFailure);
  EXPECT_EQ(out.exception.ToJson().Dump(),
            R"({"exc_type": "ValueError", "exc_message": ["boom"], "exc_module": "builtins"})");
  EXPECT_EQ(out.exception_repr, "ValueError('boom')");
  EXPECT_NE(out.traceback.find("Traceback (most recent call last):"), std::string::npos);
  EXPECT_NE(out.traceback.find("\nValueError: boom\n"), std::string::npos);
}

TEST(Execute, KeepsCustomModuleAndType) {
  const auto out = RunTask(Describe<&raises_custom>("custom"), "[]");
  EXPECT_EQ(out.exception.exc_module, "myapp.errors");
  EXPECT_EQ(out.exception.exc_type, "PaymentDeclined");
  EXPECT_NE(out.traceback.find("myapp.errors.PaymentDeclined: card 42"), std::string::npos);
}

TEST(Execute, TurnsOtherCppExceptionsIntoRuntimeError) {
  const auto out = RunTask(Describe<&raises_std>("std"), "[]");
  EXPECT_EQ(out.exception.exc_type, "RuntimeError");
  EXPECT_EQ(out.exception.exc_message.At(size_t{0}).as_string(), "std::out_of_range: index 7");
  EXPECT_EQ(RunTask(Describe<&raises_int>("int"), "[]").exception.exc_type, "RuntimeError");
}

TEST(Execute, BadArgumentsAreTypeErrorNotACrash) {
  const auto out = RunTask(Describe<&add>("add"), R"([1])");
  EXPECT_EQ(out.kind, cw::exec::OutcomeKind::kFailure);
  EXPECT_EQ(out.exception.exc_type, "TypeError");
}

TEST(Execute, ReportsRejectAndIgnore) {
  const auto rejected = RunTask(Describe<&rejects>("rejects"), "[]");
  EXPECT_EQ(rejected.kind, cw::exec::OutcomeKind::kReject);
  EXPECT_TRUE(rejected.requeue);
  EXPECT_EQ(RunTask(Describe<&ignores>("ignores"), "[]").kind, cw::exec::OutcomeKind::kIgnore);
}

int64_t retries_twice(cw::TaskContext& ctx) {
  if (ctx.retries() < 2) ctx.Retry({.countdown = 0.5, .max_retries = 2});
  return ctx.retries();
}
void retries_with_exc(cw::TaskContext& ctx) {
  ctx.Retry({.max_retries = 1, .exc = cw::RuntimeError("flaky")});
}

cw::exec::Outcome RunAt(const cw::TaskDescriptor& task, int64_t retries) {
  cw::RequestInfo request;
  request.id = "t1";
  request.retries = retries;
  return cw::exec::Execute(task, request, cw::Json::Array{}, cw::Json::Object{});
}

TEST(Execute, RetryAsksForARepublishWithTheCountdown) {
  const auto task = Describe<&retries_twice>("retries_twice");
  const auto out = RunAt(task, 0);
  EXPECT_EQ(out.kind, cw::exec::OutcomeKind::kRetry);
  EXPECT_DOUBLE_EQ(out.retry_countdown, 0.5);
  EXPECT_FALSE(out.has_exception);
  EXPECT_EQ(RunAt(task, 2).result, cw::Json(2));
}

TEST(Execute, RetryUsesTheTaskDefaultDelay) {
  const auto task = Describe<&retries_with_exc>("retries_with_exc", {.default_retry_delay = 7});
  const auto out = RunAt(task, 0);
  ASSERT_EQ(out.kind, cw::exec::OutcomeKind::kRetry);
  EXPECT_DOUBLE_EQ(out.retry_countdown, 7.0);
  EXPECT_TRUE(out.has_exception);
  EXPECT_EQ(out.exception_repr, "RuntimeError('flaky')");
}

void always_retries(cw::TaskContext& ctx, int64_t) { ctx.Retry(); }

TEST(Execute, ExhaustedRetriesFailWithTheGivenExcOrMaxRetriesExceeded) {
  const auto with_exc = RunAt(Describe<&retries_with_exc>("retries_with_exc"), 1);
  EXPECT_EQ(with_exc.kind, cw::exec::OutcomeKind::kFailure);
  EXPECT_EQ(with_exc.exception.exc_type, "RuntimeError");

  const auto task = Describe<&always_retries>("always_retries", {.max_retries = 3});
  cw::RequestInfo request;
  request.id = "t9";
  request.retries = 3;
  const auto out = cw::exec::Execute(task, request, cw::Json::Parse("[1]"), cw::Json::Object{});
  EXPECT_EQ(out.kind, cw::exec::OutcomeKind::kFailure);
  EXPECT_EQ(out.exception.exc_module, "celery.exceptions");
  EXPECT_EQ(out.exception.exc_type, "MaxRetriesExceededError");
  EXPECT_EQ(out.exception.exc_message.At(size_t{0}).as_string(),
            "Can't retry tasks.always_retries[t9] args:(1,) kwargs:{}");
  request.retries = 2;
  EXPECT_EQ(cw::exec::Execute(task, request, cw::Json::Parse("[1]"), cw::Json::Object{}).kind,
            cw::exec::OutcomeKind::kRetry);
}

// ---- autoretry_for ----

void raises_custom_autoretry() {
  throw cw::TaskError("myapp.errors", "ApiDown", "503");
}
void raises_key_error(const std::string& k) { throw cw::KeyError(k); }

cw::exec::Outcome RunRetries(const cw::TaskDescriptor& task, int64_t retries,
                             const char* args = "[]") {
  cw::RequestInfo request;
  request.id = "t1";
  request.retries = retries;
  return cw::exec::Execute(task, request, cw::Json::Parse(args), cw::Json::Object{});
}

void retries_at_eta(cw::TaskContext& ctx, int64_t seconds) {
  const auto eta = std::chrono::system_clock::now() + std::chrono::seconds(seconds);
  ctx.Retry({.countdown = 5, .eta = eta});
}

TEST(Execute, RetryAtAnEtaPassesItThroughWithItsCountdown) {
  const auto before = std::chrono::system_clock::now();
  const auto task = Describe<&retries_at_eta>("retries_at_eta");
  const auto out = RunRetries(task, 0, "[30]");
  ASSERT_EQ(out.kind, cw::exec::OutcomeKind::kRetry);
  ASSERT_TRUE(out.retry_eta.has_value());
  EXPECT_GE(*out.retry_eta, before + std::chrono::seconds(30));
  EXPECT_LE(*out.retry_eta, std::chrono::system_clock::now() + std::chrono::seconds(30));
  EXPECT_GT(out.retry_countdown, 25.0);  // from the eta, not the countdown
  EXPECT_LE(out.retry_countdown, 30.0);
  // An eta in the past: run now.
  const auto past = RunRetries(task, 0, "[-30]");
  ASSERT_TRUE(past.retry_eta.has_value());
  EXPECT_DOUBLE_EQ(past.retry_countdown, 0.0);
  // Without an eta there is none in the outcome.
  EXPECT_FALSE(RunAt(Describe<&retries_twice>("retries_twice"), 0).retry_eta.has_value());
}

TEST(Autoretry, MatchesByTypeNameQualifiedNameOrException) {
  for (const char* name : {"ValueError", "builtins.ValueError", "Exception"}) {
    const auto task = Describe<&raises_value_error>(
        "fail", {.default_retry_delay = 4, .autoretry_for = {"KeyError", name}});
    const auto out = RunRetries(task, 0, R"(["boom"])");
    ASSERT_EQ(out.kind, cw::exec::OutcomeKind::kRetry) << name;
    EXPECT_DOUBLE_EQ(out.retry_countdown, 4.0) << name;  // no backoff: default_retry_delay
    EXPECT_TRUE(out.has_exception);
    EXPECT_EQ(out.exception_repr, "ValueError('boom')");
  }
  for (const char* name : {"ApiDown", "myapp.errors.ApiDown", "Exception"}) {
    const auto task =
        Describe<&raises_custom_autoretry>("custom", {.autoretry_for = {name}});
    const auto out = RunRetries(task, 0);
    ASSERT_EQ(out.kind, cw::exec::OutcomeKind::kRetry) << name;
    EXPECT_EQ(out.exception.exc_module, "myapp.errors");
    EXPECT_EQ(out.exception.exc_type, "ApiDown");
  }
}

TEST(Autoretry, OtherCppExceptionsAreRuntimeErrors) {
  const auto task = Describe<&raises_std>("std", {.autoretry_for = {"RuntimeError"}});
  const auto out = RunRetries(task, 0);
  ASSERT_EQ(out.kind, cw::exec::OutcomeKind::kRetry);
  EXPECT_EQ(out.exception.exc_message.At(size_t{0}).as_string(), "std::out_of_range: index 7");
}

TEST(Autoretry, NonMatchingExceptionIsAPlainFailure) {
  for (const char* name : {"TypeError", "errors.ValueError", "myapp.errors.ValueError"}) {
    const auto task = Describe<&raises_value_error>("fail", {.autoretry_for = {name}});
    const auto out = RunRetries(task, 0, R"(["boom"])");
    EXPECT_EQ(out.kind, cw::exec::OutcomeKind::kFailure) << name;
    EXPECT_EQ(out.exception_repr, "ValueError('boom')");
  }
  EXPECT_EQ(RunRetries(Describe<&raises_value_error>("fail"), 0, R"(["boom"])").kind,
            cw::exec::OutcomeKind::kFailure);
  // Explicit Reject/Ignore are control flow, never retried.
  EXPECT_EQ(RunRetries(Describe<&ignores>("ignores", {.autoretry_for = {"Exception"}}), 0).kind,
            cw::exec::OutcomeKind::kIgnore);
}

TEST(Autoretry, FollowsPythonsBuiltinClassTree) {
  using cw::exec::AutoretryMatches;
  EXPECT_TRUE(AutoretryMatches({"LookupError"}, "builtins", "KeyError"));
  EXPECT_TRUE(AutoretryMatches({"OSError"}, "builtins", "ConnectionError"));
  EXPECT_TRUE(AutoretryMatches({"IOError"}, "builtins", "TimeoutError"));
  EXPECT_TRUE(AutoretryMatches({"ArithmeticError"}, "builtins", "ZeroDivisionError"));
  EXPECT_TRUE(AutoretryMatches({"RuntimeError"}, "builtins", "NotImplementedError"));
  EXPECT_TRUE(AutoretryMatches({"BaseException"}, "myapp", "Custom"));
  EXPECT_FALSE(AutoretryMatches({"Exception"}, "builtins", "SystemExit"));
  EXPECT_FALSE(AutoretryMatches({"NotImplementedError"}, "builtins", "RuntimeError"));
  EXPECT_FALSE(AutoretryMatches({"OSError"}, "myapp", "Custom"));
  EXPECT_FALSE(AutoretryMatches({}, "builtins", "ValueError"));

  const auto task = Describe<&raises_key_error>("key", {.autoretry_for = {"LookupError"}});
  EXPECT_EQ(RunRetries(task, 0, R"(["k"])").kind, cw::exec::OutcomeKind::kRetry);
}

TEST(Autoretry, BadArgumentsAreRetriedLikeAnyTypeError) {
  // Celery's wrapper calls run(*args) inside its try, so the TypeError is caught too.
  const auto task = Describe<&add>("add", {.autoretry_for = {"TypeError"}});
  EXPECT_EQ(RunRetries(task, 0, "[1]").kind, cw::exec::OutcomeKind::kRetry);
}

TEST(Autoretry, BackoffDoublesUpToTheMaximumWithoutJitter) {
  const auto task = Describe<&raises_value_error>(
      "fail", {.max_retries = -1, .autoretry_for = {"ValueError"}, .retry_backoff = 1,
               .retry_backoff_max = 20, .retry_jitter = false});
  const double expected[] = {1, 2, 4, 8, 16, 20, 20};
  for (int64_t retries = 0; retries < 7; ++retries) {
    const auto out = RunRetries(task, retries, R"(["boom"])");
    ASSERT_EQ(out.kind, cw::exec::OutcomeKind::kRetry);
    EXPECT_DOUBLE_EQ(out.retry_countdown, expected[retries]) << retries;
  }
  EXPECT_DOUBLE_EQ(RunRetries(task, 1000000, R"(["boom"])").retry_countdown, 20.0);
  EXPECT_DOUBLE_EQ(cw::exec::BackoffInterval(0.5, 3, 600, false), 4.0);
  EXPECT_DOUBLE_EQ(cw::exec::BackoffInterval(3, 2, 600, false), 12.0);
}

TEST(Autoretry, JitterStaysWithinTheBackoff) {
  const auto task = Describe<&raises_value_error>(
      "fail", {.max_retries = -1, .autoretry_for = {"ValueError"}, .retry_backoff = 2});
  bool below = false;
  for (int i = 0; i < 200; ++i) {
    const auto out = RunRetries(task, 3, R"(["boom"])");  // backoff 16
    ASSERT_EQ(out.kind, cw::exec::OutcomeKind::kRetry);
    EXPECT_GE(out.retry_countdown, 0.0);
    EXPECT_LE(out.retry_countdown, 16.0);
    // Whole factor and maximum: whole seconds, as Python's randrange(countdown + 1).
    EXPECT_EQ(out.retry_countdown, std::floor(out.retry_countdown));
    below = below || out.retry_countdown < 16.0;
  }
  EXPECT_TRUE(below);
  for (int i = 0; i < 200; ++i) {
    const double d = cw::exec::BackoffInterval(0.25, 2, 600, true);
    EXPECT_GE(d, 0.0);
    EXPECT_LE(d, 1.0);
  }
}

TEST(Autoretry, ExhaustedRetriesFailWithTheOriginalException) {
  const auto task = Describe<&raises_value_error>(
      "fail", {.max_retries = 2, .autoretry_for = {"ValueError"}});
  EXPECT_EQ(RunRetries(task, 1, R"(["boom"])").kind, cw::exec::OutcomeKind::kRetry);
  const auto out = RunRetries(task, 2, R"(["boom"])");
  ASSERT_EQ(out.kind, cw::exec::OutcomeKind::kFailure);
  EXPECT_EQ(out.exception.ToJson().Dump(),
            R"({"exc_type": "ValueError", "exc_message": ["boom"], "exc_module": "builtins"})");
  EXPECT_NE(out.traceback.find("\nValueError: boom\n"), std::string::npos);
}

TEST(FailureOutcome, HasNoTracebackWhenAsked) {
  const auto out = cw::exec::FailureOutcome("celery.exceptions", "NotRegistered",
                                            cw::Json::MakeArray({"tasks.x"}), false);
  EXPECT_TRUE(out.traceback.empty());
  EXPECT_EQ(out.exception_repr, "NotRegistered('tasks.x')");
}

}  // namespace

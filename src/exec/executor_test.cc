#include "exec/executor.h"

#include <stdexcept>

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

TEST(FailureOutcome, HasNoTracebackWhenAsked) {
  const auto out = cw::exec::FailureOutcome("celery.exceptions", "NotRegistered",
                                            cw::Json::MakeArray({"tasks.x"}), false);
  EXPECT_TRUE(out.traceback.empty());
  EXPECT_EQ(out.exception_repr, "NotRegistered('tasks.x')");
}

}  // namespace

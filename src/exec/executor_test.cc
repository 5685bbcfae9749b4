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

TEST(FailureOutcome, HasNoTracebackWhenAsked) {
  const auto out = cw::exec::FailureOutcome("celery.exceptions", "NotRegistered",
                                            cw::Json::MakeArray({"tasks.x"}), false);
  EXPECT_TRUE(out.traceback.empty());
  EXPECT_EQ(out.exception_repr, "NotRegistered('tasks.x')");
}

}  // namespace

// The task API seen from a task author: binding, conversions, Python's TypeError wording.
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include <cworker/cworker.h>

namespace {

int64_t add(int64_t x, int64_t y) { return x + y; }
std::string greet(const std::string& name, std::optional<std::string> greeting) {
  return greeting.value_or("hello") + " " + name;
}
cw::Json echo(const cw::Args& args, const cw::Kwargs& kwargs) {
  return cw::Json::MakeObject({{"args", args.ToJson()}, {"kwargs", kwargs.ToJson()}});
}
double mean(const std::vector<double>& values) {
  double sum = 0;
  for (double v : values) sum += v;
  return values.empty() ? 0 : sum / static_cast<double>(values.size());
}
int64_t count_keys(const std::map<std::string, int64_t>& m) { return static_cast<int64_t>(m.size()); }
std::string whoami(cw::TaskContext& ctx, int64_t n) { return ctx.id() + ":" + std::to_string(n); }
void nothing() {}

template <auto F>
cw::TaskDescriptor Describe(const char* name, cw::TaskOptions options = {}) {
  return cw::TaskDescriptor{std::string("t.") + name, name, std::move(options),
                            &cw::detail::InvokeTask<F>};
}

cw::Json Call(const cw::TaskDescriptor& task, const char* args, const char* kwargs = "{}") {
  cw::RequestInfo request;
  request.id = "id-1";
  cw::TaskContext ctx(request);
  return task.invoke(ctx, cw::Json::Parse(args), cw::Json::Parse(kwargs), task);
}

std::string TypeErrorOf(const cw::TaskDescriptor& task, const char* args,
                        const char* kwargs = "{}") {
  try {
    Call(task, args, kwargs);
  } catch (const cw::TaskError& e) {
    EXPECT_EQ(e.exc_type(), "TypeError");
    EXPECT_EQ(e.exc_module(), "builtins");
    return e.exc_args().At(size_t{0}).as_string();
  }
  ADD_FAILURE() << "no TypeError";
  return "";
}

TEST(TaskApi, BindsPositionalAndKeywordArguments) {
  const auto task = Describe<&add>("add", {.arg_names = {"x", "y"}});
  EXPECT_EQ(Call(task, "[2, 2]"), cw::Json(4));
  EXPECT_EQ(Call(task, "[2]", R"({"y": 5})"), cw::Json(7));
  EXPECT_EQ(Call(task, "[]", R"({"y": 1, "x": 2})"), cw::Json(3));
}

TEST(TaskApi, WordsArgumentErrorsAsPython) {
  const auto task = Describe<&add>("add", {.arg_names = {"x", "y"}});
  EXPECT_EQ(TypeErrorOf(task, "[1]"), "add() missing 1 required positional argument: 'y'");
  EXPECT_EQ(TypeErrorOf(task, "[]"), "add() missing 2 required positional arguments: 'x' and 'y'");
  EXPECT_EQ(TypeErrorOf(task, "[1, 2, 3]"), "add() takes 2 positional arguments but 3 were given");
  EXPECT_EQ(TypeErrorOf(task, "[1, 2]", R"({"z": 1})"),
            "add() got an unexpected keyword argument 'z'");
  EXPECT_EQ(TypeErrorOf(task, "[1, 2]", R"({"x": 1})"), "add() got multiple values for argument 'x'");
  EXPECT_EQ(TypeErrorOf(task, R"(["a", 2])"), "add() argument 'x': expected int, got str");
}

TEST(TaskApi, OptionalParametersMayBeMissingOrNull) {
  const auto task = Describe<&greet>("greet", {.arg_names = {"name", "greeting"}});
  EXPECT_EQ(Call(task, R"(["Zoë"])"), cw::Json("hello Zoë"));
  EXPECT_EQ(Call(task, R"(["Zoë", null])"), cw::Json("hello Zoë"));
  EXPECT_EQ(Call(task, R"(["Zoë"])", R"({"greeting": "hi"})"), cw::Json("hi Zoë"));
}

TEST(TaskApi, CollectsExtraArgsAndKwargsInOrder) {
  const auto task = Describe<&echo>("echo");
  EXPECT_EQ(Call(task, R"([1, "two"])", R"({"b": 1, "a": [true]})").Dump(),
            R"({"args": [1, "two"], "kwargs": {"b": 1, "a": [true]}})");
}

TEST(TaskApi, DecodesContainersAndIntegersAsDoubles) {
  EXPECT_EQ(Call(Describe<&mean>("mean"), "[[1, 2.5, 3]]"), cw::Json(6.5 / 3));
  EXPECT_EQ(Call(Describe<&count_keys>("count_keys"), R"([{"a": 1, "b": 2}])"), cw::Json(2));
  EXPECT_EQ(TypeErrorOf(Describe<&count_keys>("count_keys"), R"([{"a": "x"}])"),
            "count_keys() argument 'arg1': expected int, got str");
}

TEST(TaskApi, PassesTheContextFirst) {
  EXPECT_EQ(Call(Describe<&whoami>("whoami"), "[3]"), cw::Json("id-1:3"));
}

TEST(TaskApi, VoidTasksReturnNone) {
  EXPECT_TRUE(Call(Describe<&nothing>("nothing"), "[]").is_null());
  EXPECT_EQ(TypeErrorOf(Describe<&nothing>("nothing"), "[1]"),
            "nothing() takes 0 positional arguments but 1 was given");
}

TEST(TaskApi, RegistryNamesPendingTasksAfterTheModule) {
  cw::Registry registry;
  auto plain = Describe<&add>("add");
  plain.name.clear();
  registry.AddPending(plain);
  auto renamed = Describe<&nothing>("nothing", {.name = "custom.name"});
  renamed.name.clear();
  registry.AddPending(renamed);
  EXPECT_EQ(registry.CommitModule("tasks"),
            (std::vector<std::string>{"tasks.add", "custom.name"}));
  ASSERT_NE(registry.Find("tasks.add"), nullptr);
  EXPECT_EQ(registry.Find("tasks.add")->short_name, "add");
  EXPECT_EQ(registry.Find("add"), nullptr);
  EXPECT_EQ(registry.Names(), (std::vector<std::string>{"custom.name", "tasks.add"}));
  registry.AddPending(plain);
  EXPECT_THROW(registry.CommitModule("tasks"), std::runtime_error);
}

}  // namespace

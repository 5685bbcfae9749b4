#include "cli/config_file.h"

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>

#include <gtest/gtest.h>

namespace cw::cli {
namespace {

::testing::AssertionResult Contains(const std::string& text, const std::string& part) {
  if (text.find(part) != std::string::npos) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << "'" << text << "' does not contain '" << part << "'";
}

std::string ErrorOf(const std::string& text) {
  try {
    ParseConfig(text, "cfg.json");
  } catch (const ConfigError& e) {
    return e.what();
  }
  return "(no error)";
}

TEST(ConfigFile, ReadsEverySupportedSetting) {
  const ConfigFile c = ParseConfig(R"({
    "broker_url": "redis://127.0.0.1:6380/0",
    "result_backend": "redis://127.0.0.1:6380/1",
    "task_routes": {"pyside.*": "python", "tasks.add": {"queue": "cpp"}, "a?": "q"},
    "task_default_queue": "cworker",
    "task_acks_late": true,
    "result_expires": 60,
    "result_extended": true,
    "task_track_started": true,
    "worker_prefetch_multiplier": 1,
    "worker_concurrency": 3,
    "worker_eta_task_limit": 50
  })",
                                   "cfg.json");
  EXPECT_EQ(c.broker_url, "redis://127.0.0.1:6380/0");
  EXPECT_EQ(c.result_backend, "redis://127.0.0.1:6380/1");
  ASSERT_EQ(c.task_routes.size(), 3u);  // file order kept
  EXPECT_EQ(c.task_routes[0].pattern, "pyside.*");
  EXPECT_EQ(c.task_routes[0].queue, "python");
  EXPECT_EQ(c.task_routes[1].pattern, "tasks.add");
  EXPECT_EQ(c.task_routes[1].queue, "cpp");
  EXPECT_EQ(c.task_routes[2].pattern, "a?");
  EXPECT_EQ(c.task_default_queue, "cworker");
  EXPECT_EQ(c.task_acks_late, true);
  EXPECT_EQ(c.result_expires, 60);
  EXPECT_EQ(c.result_extended, true);
  EXPECT_EQ(c.task_track_started, true);
  EXPECT_EQ(c.worker_prefetch_multiplier, 1);
  EXPECT_EQ(c.worker_concurrency, 3);
  EXPECT_EQ(c.worker_eta_task_limit, 50u);
  EXPECT_TRUE(c.warnings.empty());
}

TEST(ConfigFile, EmptyObjectSetsNothing) {
  const ConfigFile c = ParseConfig("{}", "cfg.json");
  EXPECT_FALSE(c.broker_url);
  EXPECT_FALSE(c.result_backend);
  EXPECT_TRUE(c.task_routes.empty());
  EXPECT_FALSE(c.task_default_queue);
  EXPECT_FALSE(c.task_acks_late);
  EXPECT_FALSE(c.result_expires);
  EXPECT_FALSE(c.worker_concurrency);
  EXPECT_FALSE(c.worker_eta_task_limit);
}

TEST(ConfigFile, NullMeansNeverNoLimitDisabled) {
  const ConfigFile c = ParseConfig(
      R"({"result_expires": null, "worker_eta_task_limit": null, "result_backend": null,
          "worker_concurrency": null, "task_routes": null})",
      "cfg.json");
  EXPECT_EQ(c.result_expires, 0);
  EXPECT_EQ(c.worker_eta_task_limit, 0u);
  EXPECT_EQ(c.result_backend, "");
  EXPECT_EQ(c.worker_concurrency, 0);
  EXPECT_TRUE(c.task_routes.empty());
}

TEST(ConfigFile, RoutesAsAListOfRouters) {
  const ConfigFile c =
      ParseConfig(R"({"task_routes": [{"b.*": "one"}, {"a": {"queue": "two"}}]})", "cfg.json");
  ASSERT_EQ(c.task_routes.size(), 2u);
  EXPECT_EQ(c.task_routes[0].queue, "one");
  EXPECT_EQ(c.task_routes[1].pattern, "a");
  EXPECT_EQ(c.task_routes[1].queue, "two");
}

TEST(ConfigFile, UnknownKeysAreWarningsNamingTheKey) {
  const ConfigFile c = ParseConfig(
      R"({"task_queues": [], "broker_ur": "x", "task_routes": {"t": {"queue": "q", "routing_key": "k"}}})",
      "cfg.json");
  ASSERT_EQ(c.warnings.size(), 3u);
  EXPECT_TRUE(Contains(c.warnings[0], "'task_queues'"));
  EXPECT_TRUE(Contains(c.warnings[0], "cfg.json"));
  EXPECT_TRUE(Contains(c.warnings[1], "'broker_ur'"));
  EXPECT_TRUE(Contains(c.warnings[2], "'routing_key'"));
  EXPECT_FALSE(c.broker_url);
  ASSERT_EQ(c.task_routes.size(), 1u);
  EXPECT_EQ(c.task_routes[0].queue, "q");
}

TEST(ConfigFile, MalformedJsonIsAnError) {
  EXPECT_TRUE(Contains(ErrorOf("{\"broker_url\": "), "cfg.json: not valid JSON"));
  EXPECT_TRUE(Contains(ErrorOf(""), "not valid JSON"));
  EXPECT_TRUE(Contains(ErrorOf("{} trailing"), "not valid JSON"));
  EXPECT_TRUE(Contains(ErrorOf("[1, 2]"), "expected a JSON object of settings, got list"));
}

TEST(ConfigFile, WrongTypesAreErrorsNamingTheSetting) {
  struct Case {
    const char* text;
    const char* message;
  };
  const Case cases[] = {
      {R"({"broker_url": 5})", "'broker_url' must be a string, got int 5"},
      {R"({"broker_url": ""})", "'broker_url' must be a non-empty string"},
      {R"({"result_backend": false})", "'result_backend' must be a string"},
      {R"({"task_routes": "q"})", "'task_routes' must be an object"},
      {R"({"task_routes": [1]})", "'task_routes' must be an object (or a list of objects)"},
      {R"({"task_routes": {"a": 1}})", "'task_routes[\"a\"]' must be a queue name"},
      {R"({"task_routes": {"a": {"exchange": "x"}}})", "'task_routes[\"a\"]' must be a queue"},
      {R"({"task_routes": {"a": {"queue": 2}}})", "'task_routes[\"a\"][\"queue\"]' must be a string"},
      {R"({"task_routes": {"a": ""}})", "'task_routes[\"a\"]' must be a non-empty string"},
      {R"({"task_routes": {"": "q"}})", "task_routes has an empty pattern"},
      {R"({"task_default_queue": null})", "'task_default_queue' must be a string"},
      {R"({"task_acks_late": "yes"})", "'task_acks_late' must be true or false, got str"},
      {R"({"task_acks_late": 1})", "'task_acks_late' must be true or false, got int"},
      {R"({"result_expires": "1d"})", "'result_expires' must be a non-negative integer or null"},
      {R"({"result_expires": -1})", "'result_expires' must be a non-negative integer or null"},
      {R"({"result_expires": 1.5})", "'result_expires' must be a non-negative integer or null"},
      {R"({"result_expires": 99999999999})", "'result_expires' must be"},
      {R"({"result_extended": null})", "'result_extended' must be true or false"},
      {R"({"task_track_started": "true"})", "'task_track_started' must be true or false"},
      {R"({"worker_prefetch_multiplier": null})",
       "'worker_prefetch_multiplier' must be a non-negative integer, got NoneType"},
      {R"({"worker_concurrency": "4"})", "'worker_concurrency' must be a non-negative integer"},
      {R"({"worker_eta_task_limit": -5})", "'worker_eta_task_limit' must be a non-negative"},
      {R"({"worker_eta_task_limit": 1e3})", "'worker_eta_task_limit' must be a non-negative"},
  };
  for (const Case& c : cases) {
    const std::string error = ErrorOf(c.text);
    EXPECT_TRUE(Contains(error, c.message)) << c.text;
    EXPECT_TRUE(Contains(error, "cfg.json: ")) << c.text;
  }
}

class ConfigFileOnDisk : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("cw_config_test_" + std::to_string(::getpid()));
    std::filesystem::create_directories(dir_);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  std::string Write(const std::string& name, const std::string& text) {
    const std::filesystem::path p = dir_ / name;
    std::ofstream(p) << text;
    return p.string();
  }
  std::filesystem::path dir_;
};

TEST_F(ConfigFileOnDisk, LoadsAFile) {
  const std::string path = Write("ok.json", R"({"task_default_queue": "cpp"})");
  EXPECT_EQ(LoadConfigFile(path).task_default_queue, "cpp");
}

TEST_F(ConfigFileOnDisk, ErrorsNameTheFile) {
  const std::string bad = Write("bad.json", "{nope");
  try {
    LoadConfigFile(bad);
    FAIL() << "no error";
  } catch (const ConfigError& e) {
    EXPECT_TRUE(Contains(e.what(), bad + ": not valid JSON"));
  }
  const std::string missing = (dir_ / "missing.json").string();
  try {
    LoadConfigFile(missing);
    FAIL() << "no error";
  } catch (const ConfigError& e) {
    EXPECT_TRUE(Contains(e.what(), missing + ": cannot read: No such file or directory"));
  }
  try {
    LoadConfigFile(dir_.string());
    FAIL() << "no error";
  } catch (const ConfigError& e) {
    EXPECT_TRUE(Contains(e.what(), "cannot read: Is a directory"));
  }
}

}  // namespace
}  // namespace cw::cli

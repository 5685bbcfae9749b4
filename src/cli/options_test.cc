#include "cli/options.h"

#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <initializer_list>
#include <string>
#include <vector>

#include <gtest/gtest.h>

namespace cw::cli {
namespace {

class CommandLine : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("cw_options_test_" + std::to_string(::getpid()));
    std::filesystem::create_directories(dir_);
    ::unsetenv("CELERY_BROKER_URL");
    ::unsetenv("CELERY_RESULT_BACKEND");
  }
  void TearDown() override {
    std::filesystem::remove_all(dir_);
    ::unsetenv("CELERY_BROKER_URL");
    ::unsetenv("CELERY_RESULT_BACKEND");
  }

  std::string Write(const std::string& text) {
    const std::filesystem::path p = dir_ / ("config" + std::to_string(files_++) + ".json");
    std::ofstream(p) << text;
    return p.string();
  }

  // Parses `args` after "cworker -A tasks"; returns whether parsing succeeded.
  bool Parse(std::initializer_list<std::string> args) {
    std::vector<std::string> argv_text = {"cworker", "-A", "tasks"};
    argv_text.insert(argv_text.end(), args.begin(), args.end());
    std::vector<char*> argv;
    for (std::string& a : argv_text) argv.push_back(a.data());
    argv.push_back(nullptr);
    options_ = CliOptions{};
    exit_code_ = 0;
    return ParseCommandLine(static_cast<int>(argv_text.size()), argv.data(), &options_,
                            &exit_code_);
  }

  std::filesystem::path dir_;
  int files_ = 0;
  CliOptions options_;
  int exit_code_ = 0;
};

TEST_F(CommandLine, Defaults) {
  ASSERT_TRUE(Parse({}));
  EXPECT_EQ(options_.broker, "redis://localhost:6379/0");
  EXPECT_EQ(options_.result_backend, "");
  EXPECT_EQ(options_.queues, std::vector<std::string>{"celery"});
  EXPECT_EQ(options_.default_queue, "celery");
  EXPECT_TRUE(options_.routes.empty());
  EXPECT_FALSE(options_.result_extended);
  EXPECT_FALSE(options_.track_started);
  EXPECT_EQ(options_.eta_task_limit, 1000u);
  EXPECT_GE(options_.concurrency, 1);
  EXPECT_EQ(options_.pool, "prefork");  // Celery's default pool
  EXPECT_EQ(options_.max_tasks_per_child, 0);
  EXPECT_EQ(options_.max_memory_per_child, 0);
  EXPECT_FALSE(options_.reject_on_worker_lost);
  EXPECT_EQ(options_.pool_child, 0);
}

TEST_F(CommandLine, PreforkFlags) {
  ASSERT_TRUE(Parse({"-P", "prefork", "-c", "3", "--max-tasks-per-child", "10",
                     "--max-memory-per-child", "200000", "--reject-on-worker-lost",
                     "--pool-child", "2"}));
  EXPECT_EQ(options_.pool, "prefork");
  EXPECT_EQ(options_.concurrency, 3);
  EXPECT_EQ(options_.max_tasks_per_child, 10);
  EXPECT_EQ(options_.max_memory_per_child, 200000);
  EXPECT_TRUE(options_.reject_on_worker_lost);
  EXPECT_EQ(options_.pool_child, 2);
  EXPECT_FALSE(Parse({"-P", "threads"}));
  EXPECT_FALSE(Parse({"--max-tasks-per-child", "-1"}));

  const std::string path = Write(R"({"task_reject_on_worker_lost": true,
    "worker_max_tasks_per_child": 5, "worker_max_memory_per_child": 1024})");
  ASSERT_TRUE(Parse({"--config", path}));
  EXPECT_TRUE(options_.reject_on_worker_lost);
  EXPECT_EQ(options_.max_tasks_per_child, 5);
  EXPECT_EQ(options_.max_memory_per_child, 1024);
  ASSERT_TRUE(Parse({"--config", path, "--max-tasks-per-child", "9"}));
  EXPECT_EQ(options_.max_tasks_per_child, 9);  // the flag wins
}

TEST_F(CommandLine, NewFlags) {
  ASSERT_TRUE(Parse({"--route", "pyside.*=python", "--route=tasks.add=cpp", "worker",
                     "--default-queue", "cworker", "--result-extended", "--track-started",
                     "--eta-task-limit", "0"}));
  ASSERT_EQ(options_.routes.size(), 2u);
  EXPECT_EQ(options_.routes[0].pattern, "pyside.*");
  EXPECT_EQ(options_.routes[0].queue, "python");
  EXPECT_EQ(options_.routes[1].pattern, "tasks.add");
  EXPECT_EQ(options_.routes[1].queue, "cpp");
  EXPECT_EQ(options_.default_queue, "cworker");
  EXPECT_EQ(options_.queues, std::vector<std::string>{"cworker"});  // no -Q: the default queue
  EXPECT_TRUE(options_.result_extended);
  EXPECT_TRUE(options_.track_started);
  EXPECT_EQ(options_.eta_task_limit, 0u);
}

TEST_F(CommandLine, QueuesWinOverTheDefaultQueue) {
  ASSERT_TRUE(Parse({"--default-queue", "cworker", "-Q", "a,b"}));
  EXPECT_EQ(options_.queues, (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(options_.default_queue, "cworker");
}

TEST_F(CommandLine, MalformedFlagsFail) {
  for (const char* bad : {"pyside.*", "=python", "pyside.*="}) {
    EXPECT_FALSE(Parse({"--route", bad})) << bad;
    EXPECT_NE(exit_code_, 0) << bad;
  }
  for (const char* bad : {"-1", "1.5", "x", "99999999999999999999999"}) {
    EXPECT_FALSE(Parse({"--eta-task-limit", bad})) << bad;
    EXPECT_NE(exit_code_, 0) << bad;
  }
  EXPECT_FALSE(Parse({"--default-queue", ""}));
  EXPECT_NE(exit_code_, 0);
}

TEST_F(CommandLine, ConfigFileFillsWhatTheCommandLineLeaves) {
  const std::string path = Write(R"({
    "broker_url": "redis://file:1/0", "result_backend": "redis://file:1/1",
    "task_routes": {"pyside.*": "python"}, "task_default_queue": "fileq",
    "task_acks_late": true, "result_expires": null, "result_extended": true,
    "task_track_started": true, "worker_prefetch_multiplier": 1, "worker_concurrency": 3,
    "worker_eta_task_limit": 7, "some_unknown": 1})");
  ASSERT_TRUE(Parse({"--config", path}));
  EXPECT_EQ(options_.broker, "redis://file:1/0");
  EXPECT_EQ(options_.result_backend, "redis://file:1/1");
  ASSERT_EQ(options_.routes.size(), 1u);
  EXPECT_EQ(options_.routes[0].queue, "python");
  EXPECT_EQ(options_.default_queue, "fileq");
  EXPECT_EQ(options_.queues, std::vector<std::string>{"fileq"});
  EXPECT_TRUE(options_.acks_late);
  EXPECT_EQ(options_.result_expires, 0);
  EXPECT_TRUE(options_.result_extended);
  EXPECT_TRUE(options_.track_started);
  EXPECT_EQ(options_.prefetch_multiplier, 1);
  EXPECT_EQ(options_.concurrency, 3);
  EXPECT_EQ(options_.eta_task_limit, 7u);
  ASSERT_EQ(options_.config_warnings.size(), 1u);
  EXPECT_NE(options_.config_warnings[0].find("'some_unknown'"), std::string::npos);
}

TEST_F(CommandLine, CommandLineWinsOverTheEnvironmentWhichWinsOverTheFile) {
  ::setenv("CELERY_BROKER_URL", "redis://env:1/0", 1);
  ::setenv("CELERY_RESULT_BACKEND", "redis://env:1/1", 1);
  const std::string path = Write(R"({
    "broker_url": "redis://file:1/0", "result_backend": null,
    "task_routes": {"a.*": "fileq", "b": "fileq"}, "task_default_queue": "fileq",
    "task_acks_late": false, "result_expires": 5, "worker_concurrency": 3,
    "worker_prefetch_multiplier": 2, "worker_eta_task_limit": 7})");
  // As in Celery, $CELERY_BROKER_URL / $CELERY_RESULT_BACKEND win over the file...
  ASSERT_TRUE(Parse({"--config", path}));
  EXPECT_EQ(options_.broker, "redis://env:1/0");
  EXPECT_EQ(options_.result_backend, "redis://env:1/1");
  // ...and without them the file's URLs apply (null: results disabled).
  ::unsetenv("CELERY_BROKER_URL");
  ::unsetenv("CELERY_RESULT_BACKEND");
  ASSERT_TRUE(Parse({"--config", path}));
  EXPECT_EQ(options_.broker, "redis://file:1/0");
  EXPECT_EQ(options_.result_backend, "");
  ::setenv("CELERY_BROKER_URL", "redis://env:1/0", 1);
  ::setenv("CELERY_RESULT_BACKEND", "redis://env:1/1", 1);
  // The command line wins over the file; --route rules come first.
  ASSERT_TRUE(Parse({"--config", path, "-b", "redis://cli:1/0", "--result-backend",
                     "redis://cli:1/1", "--route", "a.x=cliq", "--default-queue", "cliq",
                     "--acks-late", "--result-expires", "9", "-c", "2",
                     "--prefetch-multiplier", "3", "--eta-task-limit", "8"}));
  EXPECT_EQ(options_.broker, "redis://cli:1/0");
  EXPECT_EQ(options_.result_backend, "redis://cli:1/1");
  ASSERT_EQ(options_.routes.size(), 3u);
  EXPECT_EQ(options_.routes[0].pattern, "a.x");
  EXPECT_EQ(options_.routes[0].queue, "cliq");
  EXPECT_EQ(options_.routes[1].pattern, "a.*");
  EXPECT_EQ(options_.routes[2].pattern, "b");
  EXPECT_EQ(options_.default_queue, "cliq");
  EXPECT_EQ(options_.queues, std::vector<std::string>{"cliq"});
  EXPECT_TRUE(options_.acks_late);
  EXPECT_EQ(options_.result_expires, 9);
  EXPECT_EQ(options_.concurrency, 2);
  EXPECT_EQ(options_.prefetch_multiplier, 3);
  EXPECT_EQ(options_.eta_task_limit, 8u);
  // Without a file, the environment.
  ASSERT_TRUE(Parse({}));
  EXPECT_EQ(options_.broker, "redis://env:1/0");
  EXPECT_EQ(options_.result_backend, "redis://env:1/1");
}

TEST_F(CommandLine, BadConfigFileFailsWithExitCode2) {
  EXPECT_FALSE(Parse({"--config", Write(R"({"task_acks_late": "yes"})")}));
  EXPECT_EQ(exit_code_, 2);
  EXPECT_FALSE(Parse({"--config", Write("not json")}));
  EXPECT_EQ(exit_code_, 2);
  EXPECT_FALSE(Parse({"--config", (dir_ / "missing.json").string()}));
  EXPECT_EQ(exit_code_, 2);
  EXPECT_FALSE(Parse({"--config", ""}));
  EXPECT_EQ(exit_code_, 2);
}

}  // namespace
}  // namespace cw::cli

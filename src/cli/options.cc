#include "cli/options.h"

#include <algorithm>
#include <thread>

#include <CLI/CLI.hpp>

#include <cworker/io.h>

#include "util/log.h"

namespace cw::cli {

bool ParseCommandLine(int argc, char** argv, CliOptions* out, int* exit_code) {
  CLI::App app{"cworker: a Celery worker for tasks written in C++ (Redis broker and backend)",
               "cworker"};
  app.set_version_flag("--version", std::string("cworker ") + CWORKER_VERSION);
  std::string subcommand;
  app.add_option("command", subcommand,
                 "optional 'worker', so `cworker -A tasks worker ...` reads like celery's")
      ->check(CLI::IsMember({"worker"}));
  app.add_option("-A,--app", out->app,
                 "task library: NAME loads ./libNAME.so, ./NAME.so, then $CWORKER_PATH; or a path")
      ->required();
  out->broker = GetEnv("CELERY_BROKER_URL", "redis://localhost:6379/0");
  app.add_option("-b,--broker", out->broker, "broker URL (default $CELERY_BROKER_URL)")
      ->capture_default_str();
  out->result_backend = GetEnv("CELERY_RESULT_BACKEND");
  app.add_option("--result-backend", out->result_backend,
                 "result backend URL (default $CELERY_RESULT_BACKEND; none: results disabled)");
  app.add_option("-P,--pool", out->pool, "pool implementation")
      ->check(CLI::IsMember({"solo"}))
      ->capture_default_str();
  app.add_option("-c,--concurrency", out->concurrency,
                 "number of concurrent tasks (default: number of CPUs)")
      ->check(CLI::NonNegativeNumber);
  app.add_option("-Q,--queues", out->queues, "comma-separated queues to consume (default celery)")
      ->delimiter(',');
  app.add_option("-l,--loglevel", out->loglevel, "DEBUG, INFO, WARNING, ERROR, CRITICAL")
      ->check([](const std::string& v) {
        spdlog::level::level_enum level{};
        return log::ParseLevel(v, &level) ? std::string() : "unknown log level " + v;
      })
      ->capture_default_str();
  app.add_option("-n,--hostname", out->hostname, "node name; %h, %n, %d expand as in Celery")
      ->capture_default_str();
  app.add_option("--prefetch-multiplier", out->prefetch_multiplier,
                 "messages prefetched per unit of concurrency")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  app.add_flag("--acks-late", out->acks_late, "acknowledge after the task ran, for every task");
  app.add_option("--result-expires", out->result_expires,
                 "seconds before results expire (0: never)")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    *exit_code = app.exit(e);
    return false;
  }
  if (out->concurrency == 0) {
    out->concurrency = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  }
  // "-Q a,,b" or "-Q a,a": consume each named queue once, in the order given.
  std::vector<std::string> queues;
  for (const std::string& q : out->queues) {
    if (!q.empty() && std::find(queues.begin(), queues.end(), q) == queues.end()) {
      queues.push_back(q);
    }
  }
  out->queues = queues.empty() ? std::vector<std::string>{"celery"} : std::move(queues);
  return true;
}

}  // namespace cw::cli

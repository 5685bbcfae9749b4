// cworker's entry point: parse the command line, load the task library, print the banner,
// run the worker until it is told to stop.
#include <cstdio>
#include <iostream>

#include <spdlog/spdlog.h>

#include "cli/banner.h"
#include "cli/module_loader.h"
#include "cli/options.h"
#include "util/hostname.h"
#include "util/log.h"
#include "worker/shutdown.h"
#include "worker/worker.h"

namespace {

int Main(int argc, char** argv) {
  cw::worker::BlockShutdownSignals();  // before any thread exists
  cw::cli::CliOptions cli;
  int exit_code = 0;
  if (!cw::cli::ParseCommandLine(argc, argv, &cli, &exit_code)) return exit_code;
  spdlog::level::level_enum level{};
  cw::log::ParseLevel(cli.loglevel, &level);
  cw::log::Setup(level);
  for (const std::string& warning : cli.config_warnings) spdlog::warn("{}", warning);

  cw::worker::WorkerOptions options;
  std::string error;
  auto broker = cw::redis::Url::Parse(cli.broker, &error);
  if (!broker) {
    std::fprintf(stderr, "Error: Invalid value for '-b' / '--broker': %s\n", error.c_str());
    return 2;
  }
  options.broker = *broker;
  if (!cli.result_backend.empty()) {
    auto backend = cw::redis::Url::Parse(cli.result_backend, &error);
    if (!backend) {
      std::fprintf(stderr, "Error: Invalid value for '--result-backend': %s\n", error.c_str());
      return 2;
    }
    options.backend = *backend;
  }
  options.queues = cli.queues;
  options.concurrency = cli.concurrency;
  options.prefetch_multiplier = cli.prefetch_multiplier;
  options.pool = cli.pool;
  options.nodename = cw::util::ExpandNodeName(cli.hostname, cw::util::Hostname());
  options.acks_late = cli.acks_late;
  options.result_expires = cli.result_expires;
  options.routes = cli.routes;
  options.default_queue = cli.default_queue;
  options.result_extended = cli.result_extended;
  options.track_started = cli.track_started;
  options.eta_task_limit = cli.eta_task_limit;
  for (const cw::canvas::RouteRule& rule : options.routes) {
    spdlog::debug("task_routes: {} -> queue {}", rule.pattern, rule.queue);
  }

  cw::cli::LoadedModule module;
  try {
    module = cw::cli::LoadTaskModule(cli.app);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "Error: Invalid value for '-A' / '--app': %s\n", e.what());
    return 2;
  }
  std::cout << cw::cli::Banner(options, module, level <= spdlog::level::info) << std::flush;

  cw::worker::Worker worker(options);
  cw::worker::StartSignalThread(worker);
  return worker.Run();
}

}  // namespace

int main(int argc, char** argv) { return Main(argc, argv); }

// cworker's entry point: parse the command line, load the task library, print the banner,
// run the worker until it is told to stop.
#include <sys/resource.h>
#include <unistd.h>

#include <cstdio>
#include <iostream>
#include <string>
#include <vector>

#include <spdlog/spdlog.h>

#include <cworker/redis.h>

#include "cli/banner.h"
#include "cli/module_loader.h"
#include "cli/privileges.h"
#include "cli/options.h"
#include "pools/prefork_child.h"
#include "util/hostname.h"
#include "util/log.h"
#include "worker/shutdown.h"
#include "worker/worker.h"

namespace {

// A green worker holds a socket per in-flight HTTP call: -c 5000 needs more descriptors than
// the usual soft limit of 1024. Raise it to the hard limit, as gevent users do with ulimit.
void RaiseOpenFileLimit() {
  rlimit limit{};
  if (getrlimit(RLIMIT_NOFILE, &limit) != 0 || limit.rlim_cur >= limit.rlim_max) return;
  const rlim_t before = limit.rlim_cur;
  limit.rlim_cur = limit.rlim_max;
  if (setrlimit(RLIMIT_NOFILE, &limit) == 0) {
    spdlog::debug("open file limit raised from {} to {}", before, limit.rlim_cur);
  }
}

// The command that starts a prefork child: this very binary with this very command line (the
// pool appends --pool-child N), so a child sees the same settings and task library.
std::vector<std::string> ChildCommand(int argc, char** argv) {
  std::string exe(4096, '\0');
  const ssize_t n = readlink("/proc/self/exe", exe.data(), exe.size());
  exe = n > 0 ? exe.substr(0, static_cast<size_t>(n)) : std::string(argv[0]);
  std::vector<std::string> command{exe};
  for (int i = 1; i < argc; ++i) command.emplace_back(argv[i]);
  return command;
}

// cw::redis::Command's default URL, for tasks: the broker's; a sentinel URL carries its master's
// name along (as ?master_name=), since tasks see only the URL.
std::string TaskRedisUrl(const cw::cli::CliOptions& cli) {
  std::string error;
  std::optional<cw::redis::Url> url = cw::redis::Url::Parse(cli.broker, &error);
  if (!url || !url->is_sentinel()) return cli.broker;
  if (url->master_name.empty()) url->master_name = cli.master_name;
  return url->ToString(false);
}

// cworker --pool-child N: serve jobs for the parent over the pipes it set up.
int ChildMain(const cw::cli::CliOptions& cli, spdlog::level::level_enum level) {
  const cw::pools::ChildFds fds = cw::pools::PrepareChildProcess();
  cw::log::Setup(level, "ForkPoolWorker-" + std::to_string(cli.pool_child));
  cw::redis::SetDefaultUrl(TaskRedisUrl(cli));
  try {
    cw::cli::LoadTaskModule(cli.app);
  } catch (const std::exception& e) {
    spdlog::critical("Cannot load the task library: {}", e.what());
    return 2;
  }
  return cw::pools::RunPreforkChild(fds, cli.pool_child, cli.stack_size_kib * 1024);
}

int Main(int argc, char** argv) {
  cw::worker::BlockShutdownSignals();  // before any thread exists
  cw::cli::CliOptions cli;
  int exit_code = 0;
  if (!cw::cli::ParseCommandLine(argc, argv, &cli, &exit_code)) return exit_code;
  spdlog::level::level_enum level{};
  cw::log::ParseLevel(cli.loglevel, &level);
  if (cli.pool_child > 0) return ChildMain(cli, level);
  cw::log::Setup(level);
  if (!cli.uid.empty() || !cli.gid.empty()) {
    if (const std::string why = cw::cli::DropPrivileges(cli.uid, cli.gid); !why.empty()) {
      std::fprintf(stderr, "Error: --uid/--gid: %s\n", why.c_str());
      return 1;
    }
  }
  if (cw::cli::RunningAsRoot()) {
    if (!cw::cli::RootConsented(cli.allow_root)) {
      std::fprintf(stderr,
                   "Error: refusing to run the worker as root: task libraries and messages "
                   "from Redis would run with superuser privileges.\nUse --uid USER (and "
                   "--gid GROUP) to switch to an unprivileged user, or consent with "
                   "--allow-root (or C_FORCE_ROOT=1, as Celery).\n");
      return 1;
    }
    spdlog::warn("You're running the worker with superuser privileges (--allow-root / "
                 "C_FORCE_ROOT): this is not recommended. Use --uid to run as another user.");
  }
  for (const std::string& warning : cli.config_warnings) spdlog::warn("{}", warning);

  cw::worker::WorkerOptions options;
  std::string error;
  auto broker = cw::redis::Url::Parse(cli.broker, &error);
  if (!broker) {
    std::fprintf(stderr, "Error: Invalid value for '-b' / '--broker': %s\n", error.c_str());
    return 2;
  }
  options.broker = *broker;
  if (!cli.master_name.empty()) options.broker.master_name = cli.master_name;
  options.broker.key_prefix = cli.global_keyprefix;
  if (options.broker.is_sentinel() && options.broker.master_name.empty()) {
    std::fprintf(stderr, "Error: Invalid value for '-b' / '--broker': a sentinel:// URL needs the "
                         "'master_name' transport option (--broker-transport-option "
                         "master_name=NAME)\n");
    return 2;
  }
  if (!cli.result_backend.empty()) {
    auto backend = cw::redis::Url::Parse(cli.result_backend, &error);
    if (!backend) {
      std::fprintf(stderr, "Error: Invalid value for '--result-backend': %s\n", error.c_str());
      return 2;
    }
    options.backend = *backend;
    // Celery 5.3+'s backend rule: a prefix not ending in one of ":_-." gets a "_".
    options.backend->key_prefix = cli.backend_global_keyprefix;
    if (!options.backend->key_prefix.empty() &&
        std::string_view(":_-.").find(options.backend->key_prefix.back()) == std::string_view::npos) {
      options.backend->key_prefix += '_';
    }
    if (options.backend->is_sentinel() && options.backend->master_name.empty()) {
      options.backend->master_name =
          cli.backend_master_name.empty() ? options.broker.master_name : cli.backend_master_name;
    }
    if (options.backend->is_sentinel() && options.backend->master_name.empty()) {
      std::fprintf(stderr, "Error: Invalid value for '--result-backend': a sentinel:// URL needs "
                           "'master_name' (--result-backend-transport-option master_name=NAME)\n");
      return 2;
    }
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
  options.visibility_timeout = cli.visibility_timeout;
  options.max_message_size = cli.max_message_size;
  options.stack_size = cli.stack_size_kib * 1024;
  options.blocking_threshold = cli.blocking_threshold;
  options.time_limit = cli.time_limit;
  options.soft_time_limit = cli.soft_time_limit;
  options.reject_on_worker_lost = cli.reject_on_worker_lost;
  options.task_events = cli.task_events;
  options.heartbeat = !cli.without_heartbeat;
  options.statedb = cli.statedb;
  options.http = cli.http;
  options.version = CWORKER_VERSION;
  options.max_tasks_per_child = cli.max_tasks_per_child;
  options.max_memory_per_child_kib = cli.max_memory_per_child;
  if (options.pool == "prefork") options.child_command = ChildCommand(argc, argv);
  if (options.pool == "green") RaiseOpenFileLimit();
  cw::redis::SetDefaultUrl(TaskRedisUrl(cli));  // cw::redis::Command's default, for tasks
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

#include "cli/options.h"

#include <algorithm>
#include <charconv>
#include <cstdint>
#include <cstdio>
#include <stdexcept>
#include <system_error>
#include <thread>

#include <CLI/CLI.hpp>

#include <cworker/io.h>

#include "monitoring/http_listener.h"

#include "cli/config_file.h"
#include "pools/prefork_child.h"
#include "util/log.h"

namespace cw::cli {
namespace {

bool Given(const CLI::Option* opt) { return opt->count() > 0; }

// Settings from the file fill in what the command line did not give.
void ApplyConfig(const ConfigFile& file, const CLI::App& app, CliOptions* out) {
  auto unset = [&app](const char* name) { return !Given(app.get_option(name)); };
  // As Celery: $CELERY_BROKER_URL / $CELERY_RESULT_BACKEND win over the configuration.
  if (file.broker_url && unset("--broker") && GetEnv("CELERY_BROKER_URL").empty()) {
    out->broker = *file.broker_url;
  }
  if (file.result_backend && unset("--result-backend") && GetEnv("CELERY_RESULT_BACKEND").empty()) {
    out->result_backend = *file.result_backend;
  }
  if (file.worker_concurrency && unset("--concurrency")) out->concurrency = *file.worker_concurrency;
  if (file.worker_prefetch_multiplier && unset("--prefetch-multiplier")) {
    out->prefetch_multiplier = *file.worker_prefetch_multiplier;
  }
  if (file.task_acks_late && unset("--acks-late")) out->acks_late = *file.task_acks_late;
  if (file.result_expires && unset("--result-expires")) out->result_expires = *file.result_expires;
  if (file.task_default_queue && unset("--default-queue")) {
    out->default_queue = *file.task_default_queue;
  }
  if (file.result_extended && unset("--result-extended")) {
    out->result_extended = *file.result_extended;
  }
  if (file.task_track_started && unset("--track-started")) {
    out->track_started = *file.task_track_started;
  }
  if (file.worker_state_db && unset("--statedb")) out->statedb = *file.worker_state_db;
  if (file.worker_send_task_events && unset("--task-events")) {
    out->task_events = *file.worker_send_task_events;
  }
  if (file.task_reject_on_worker_lost && unset("--reject-on-worker-lost")) {
    out->reject_on_worker_lost = *file.task_reject_on_worker_lost;
  }
  if (file.worker_max_tasks_per_child && unset("--max-tasks-per-child")) {
    out->max_tasks_per_child = *file.worker_max_tasks_per_child;
  }
  if (file.worker_max_memory_per_child && unset("--max-memory-per-child")) {
    out->max_memory_per_child = *file.worker_max_memory_per_child;
  }
  if (file.master_name && out->master_name.empty()) out->master_name = *file.master_name;
  if (file.global_keyprefix && out->global_keyprefix.empty()) {
    out->global_keyprefix = *file.global_keyprefix;
  }
  if (file.backend_global_keyprefix && out->backend_global_keyprefix.empty()) {
    out->backend_global_keyprefix = *file.backend_global_keyprefix;
  }
  if (file.backend_master_name && out->backend_master_name.empty()) {
    out->backend_master_name = *file.backend_master_name;
  }
  if (file.visibility_timeout && unset("--visibility-timeout")) {
    out->visibility_timeout = *file.visibility_timeout;
  }
  if (file.worker_eta_task_limit && unset("--eta-task-limit")) {
    out->eta_task_limit = *file.worker_eta_task_limit;
  }
  out->routes.insert(out->routes.end(), file.task_routes.begin(), file.task_routes.end());
  out->config_warnings = file.warnings;
}

std::pair<std::string, std::string> SplitOption(const std::string& flag, const std::string& name) {
  const size_t eq = flag.find('=');
  if (eq == std::string::npos || eq == 0) {
    throw CLI::ValidationError(name, "expects KEY=VALUE, got '" + flag + "'");
  }
  return {flag.substr(0, eq), flag.substr(eq + 1)};
}

double PositiveSeconds(const std::string& text, const std::string& name) {
  double v = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec != std::errc() || end != text.data() + text.size() || !(v > 0)) {
    throw CLI::ValidationError(name, "expects a positive number of seconds, got '" + text + "'");
  }
  return v;
}

}  // namespace

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
  app.add_option("--config", out->config,
                 "JSON file of Celery settings (broker_url, task_routes, task_acks_late, ...); "
                 "command-line options win over it; $CELERY_BROKER_URL/$CELERY_RESULT_BACKEND too, as in Celery")
      ->type_name("FILE");
  out->broker = GetEnv("CELERY_BROKER_URL", "redis://localhost:6379/0");
  app.add_option("-b,--broker", out->broker, "broker URL (default $CELERY_BROKER_URL)")
      ->capture_default_str();
  out->result_backend = GetEnv("CELERY_RESULT_BACKEND");
  app.add_option("--result-backend", out->result_backend,
                 "result backend URL (default $CELERY_RESULT_BACKEND; none: results disabled)");
  app.add_option("-P,--pool", out->pool, "pool implementation")
      ->check(CLI::IsMember({"prefork", "solo", "green"}))
      ->capture_default_str();
  app.add_option("-c,--concurrency", out->concurrency,
                 "number of concurrent tasks (default: number of CPUs)")
      ->check(CLI::NonNegativeNumber);
  app.add_option("-Q,--queues", out->queues,
                 "comma-separated queues to consume (default: --default-queue)")
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
  std::vector<std::string> route_flags;
  app.add_option("--route", route_flags,
                 "task_routes entry for the messages this worker sends (chain steps, callbacks, "
                 "...): task name or glob = queue; repeatable, the first match wins")
      ->type_name("PATTERN=QUEUE")
      ->allow_extra_args(false)
      ->check([](const std::string& v) {
        try {
          canvas::ParseRouteFlag(v);
          return std::string();
        } catch (const std::invalid_argument&) {
          return "expects PATTERN=QUEUE (a task name or glob, '=', a queue), got '" + v + "'";
        }
      });
  app.add_option("--default-queue", out->default_queue,
                 "task_default_queue: where unrouted messages go, and the queue consumed "
                 "when -Q is not given")
      ->type_name("NAME")
      ->check([](const std::string& v) {
        return v.empty() ? std::string("the default queue name must not be empty")
                         : std::string();
      })
      ->capture_default_str();
  app.add_flag("--result-extended", out->result_extended,
               "result_extended: store the task name, args, kwargs, worker, ... with results");
  app.add_flag("--track-started", out->track_started,
               "task_track_started: store STARTED when a task begins");
  app.add_option("--eta-task-limit", out->eta_task_limit,
                 "worker_eta_task_limit: ETA/countdown tasks held in memory at most (0: no limit)")
      ->type_name("N")
      ->check([](const std::string& v) {
        uint64_t n = 0;
        const auto [end, ec] = std::from_chars(v.data(), v.data() + v.size(), n);
        const bool ok = !v.empty() && ec == std::errc() && end == v.data() + v.size();
        return ok ? std::string() : "expects a non-negative integer, got '" + v + "'";
      })
      ->capture_default_str();
  app.add_flag("-E,--task-events", out->task_events,
               "worker_send_task_events: send task events (Flower, celery events); worker "
               "heartbeats are always sent");
  app.add_flag("--without-heartbeat", out->without_heartbeat,
               "send no worker-heartbeat events (Flower then shows the worker offline)");
  app.add_flag("--without-gossip", out->without_gossip,
               "accepted for Celery compatibility; cworker does not gossip");
  app.add_flag("--without-mingle", out->without_mingle,
               "accepted for Celery compatibility; cworker does not mingle at start-up");
  app.add_flag("--reject-on-worker-lost", out->reject_on_worker_lost,
               "task_reject_on_worker_lost: with acks_late, requeue a task whose process died "
               "instead of storing WorkerLostError");
  app.add_option("--max-tasks-per-child", out->max_tasks_per_child,
                 "prefork: replace a child process after it ran this many tasks (0: never)")
      ->type_name("N")
      ->check(CLI::NonNegativeNumber);
  app.add_option("--max-memory-per-child", out->max_memory_per_child,
                 "prefork: replace a child process once its resident memory exceeds this many "
                 "KiB after a task (0: never)")
      ->type_name("KIB")
      ->check(CLI::NonNegativeNumber);
  app.add_option("-S,--statedb", out->statedb,
                 "worker_state_db: keep revoked task ids in this file, so a restarted worker "
                 "still honours them (a JSON file; Celery's is a Python shelve)")
      ->type_name("FILE");
  app.add_option("--http", out->http,
                 "serve /healthz and /metrics (Prometheus text) on this address, from a thread "
                 "of its own; port 0 picks a free one")
      ->type_name("HOST:PORT")
      ->check([](const std::string& v) {
        try {
          monitoring::HttpListener::ParseAddress(v);
          return std::string();
        } catch (const std::invalid_argument& e) {
          return std::string(e.what());
        }
      });
  app.add_option(pools::kChildFlag, out->pool_child)->group("");  // internal: prefork child
  app.add_option("--time-limit", out->time_limit,
                 "task_time_limit: seconds before a task is ended (TimeLimitExceeded); prefork: "
                 "the child is killed and replaced, green: at its next yield point, solo: not "
                 "enforced")
      ->type_name("SECONDS")
      ->check(CLI::PositiveNumber);
  app.add_option("--max-message-size", out->max_message_size,
                 "messages larger than this many bytes are refused (a FAILURE naming the limit) "
                 "and never decoded; 0: no limit")
      ->type_name("BYTES")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  app.add_option("--uid", out->uid,
                 "run as this user (name or number), switched to before the task library loads")
      ->type_name("USER");
  app.add_option("--gid", out->gid, "run as this group (default: the --uid user's group)")
      ->type_name("GROUP");
  app.add_flag("--allow-root", out->allow_root,
               "consent to run as root (also: C_FORCE_ROOT in the environment, as Celery); "
               "without it, or --uid, the worker refuses to start as root");
  app.add_option("--visibility-timeout", out->visibility_timeout,
                 "broker_transport_options visibility_timeout: seconds after which a message "
                 "left in unacked by a lost worker is restored to its queue; this worker "
                 "extends the lease of every message it still holds")
      ->type_name("SECONDS")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  app.add_option("--soft-time-limit", out->soft_time_limit,
                 "task_soft_time_limit: seconds before SoftTimeLimitExceeded is raised in a task "
                 "(prefork, green: at its next yield point or cw::Checkpoint(); solo: not "
                 "enforced)")
      ->type_name("SECONDS")
      ->check(CLI::PositiveNumber);
  app.add_option("--stack-size", out->stack_size_kib,
                 "green pool: KiB of stack per fiber, with a guard page below it; only the "
                 "pages a task touches use memory")
      ->type_name("KIB")
      ->check(CLI::Range(size_t{16}, size_t{65536}))
      ->capture_default_str();
  app.add_option("--blocking-threshold", out->blocking_threshold,
                 "green pool: warn when a task keeps the event loop longer than this (0: never)")
      ->type_name("SECONDS")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  std::vector<std::string> broker_options;
  app.add_option("--broker-transport-option", broker_options,
                 "broker_transport_options entry: master_name=NAME (Sentinel), "
                 "visibility_timeout=SECONDS, global_keyprefix=PREFIX; repeatable")
      ->type_name("KEY=VALUE")
      ->allow_extra_args(false);
  std::vector<std::string> backend_options;
  app.add_option("--result-backend-transport-option", backend_options,
                 "result_backend_transport_options entry: master_name=NAME (Sentinel; default: "
                 "the broker's), global_keyprefix=PREFIX")
      ->type_name("KEY=VALUE")
      ->allow_extra_args(false);
  try {
    app.parse(argc, argv);
    for (const std::string& flag : broker_options) {
      const auto [key, value] = SplitOption(flag, "--broker-transport-option");
      if (key == "master_name") {
        out->master_name = value;
      } else if (key == "global_keyprefix") {
        out->global_keyprefix = value;
      } else if (key == "visibility_timeout") {
        if (!Given(app.get_option("--visibility-timeout"))) {
          out->visibility_timeout = PositiveSeconds(value, "--broker-transport-option");
        }
      } else {
        throw CLI::ValidationError("--broker-transport-option",
                                   "unsupported transport option '" + key + "'");
      }
    }
    for (const std::string& flag : backend_options) {
      const auto [key, value] = SplitOption(flag, "--result-backend-transport-option");
      if (key == "master_name") {
        out->backend_master_name = value;
      } else if (key == "global_keyprefix") {
        out->backend_global_keyprefix = value;
      } else {
        throw CLI::ValidationError("--result-backend-transport-option",
                                   "unsupported transport option '" + key + "'");
      }
    }
  } catch (const CLI::ParseError& e) {
    *exit_code = app.exit(e);
    return false;
  }
  for (const std::string& flag : route_flags) out->routes.push_back(canvas::ParseRouteFlag(flag));
  if (Given(app.get_option("--config"))) {
    try {
      if (out->config.empty()) throw ConfigError("no file name given");
      ApplyConfig(LoadConfigFile(out->config), app, out);
    } catch (const ConfigError& e) {
      std::fprintf(stderr, "Error: Invalid value for '--config': %s\n", e.what());
      *exit_code = 2;
      return false;
    }
  }
  if (out->concurrency == 0) {
    out->concurrency = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  }
  // "-Q a,,b" or "-Q a,a": consume each named queue once, in the order given. Without -Q, the
  // default queue, as a Celery worker consumes task_default_queue.
  std::vector<std::string> queues;
  for (const std::string& q : out->queues) {
    if (!q.empty() && std::find(queues.begin(), queues.end(), q) == queues.end()) {
      queues.push_back(q);
    }
  }
  out->queues = queues.empty() ? std::vector<std::string>{out->default_queue} : std::move(queues);
  return true;
}

}  // namespace cw::cli

// The command line, in Celery's words (`celery -A tasks worker -P solo -c 1 -Q a,b -l INFO`),
// and `--config FILE`, a JSON file of Celery settings (see config_file.h).
//
// Precedence, highest first: the command line, the config file, the environment
// ($CELERY_BROKER_URL, $CELERY_RESULT_BACKEND), the built-in defaults. --route rules come
// before the file's task_routes (the first matching rule wins).
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <vector>

#include "canvas/router.h"

namespace cw::cli {

struct CliOptions {
  std::string app;  ///< -A: the task library ("tasks" or a path to a .so)
  std::string broker;
  std::string result_backend;  ///< empty: results disabled
  std::string pool = "prefork";  ///< Celery's default pool
  int concurrency = 0;  ///< 0: number of CPUs, as Celery
  std::vector<std::string> queues;  ///< -Q; default: {default_queue}
  std::string loglevel = "WARNING";
  std::string hostname = "celery@%h";
  int prefetch_multiplier = 4;
  bool acks_late = false;
  int result_expires = 86400;
  std::vector<canvas::RouteRule> routes;  ///< --route, then the file's task_routes
  std::string default_queue = "celery";   ///< task_default_queue
  bool result_extended = false;
  bool track_started = false;  ///< task_track_started
  size_t eta_task_limit = 1000;  ///< worker_eta_task_limit; 0 = no limit
  /// broker_transport_options visibility_timeout: seconds before an unacked message counts as
  /// lost and is restored (kombu's default, 1 h).
  double visibility_timeout = 3600;
  size_t max_message_size = size_t{64} << 20;  ///< --max-message-size, bytes (0: no limit)
  /// Sentinel: broker_transport_options / result_backend_transport_options master_name.
  std::string master_name;
  std::string backend_master_name;  ///< empty: the broker's
  /// global_keyprefix of the broker (kombu 5.3+) and of the result backend (Celery 5.3+).
  std::string global_keyprefix;
  std::string backend_global_keyprefix;
  size_t stack_size_kib = 256;     ///< green: --stack-size, KiB per fiber
  double blocking_threshold = 1.0;  ///< green: --blocking-threshold, seconds (0: off)
  std::optional<double> time_limit;       ///< --time-limit / task_time_limit
  std::optional<double> soft_time_limit;  ///< --soft-time-limit / task_soft_time_limit
  bool reject_on_worker_lost = false;  ///< task_reject_on_worker_lost
  bool task_events = false;            ///< -E / worker_send_task_events
  bool without_heartbeat = false;      ///< --without-heartbeat: no worker-heartbeat events
  bool without_gossip = false;         ///< accepted; cworker has no gossip
  bool without_mingle = false;         ///< accepted; cworker does not mingle
  int max_tasks_per_child = 0;         ///< prefork: --max-tasks-per-child (0: never)
  int64_t max_memory_per_child = 0;    ///< prefork: --max-memory-per-child, KiB (0: never)
  std::string statedb;  ///< --statedb / worker_state_db: revoked ids kept across restarts
  std::string http;     ///< --http HOST:PORT: /healthz and /metrics
  std::string uid;      ///< --uid: user to run as (dropped to before tasks load)
  std::string gid;      ///< --gid: group to run as
  bool allow_root = false;  ///< --allow-root: consent to run as root (also C_FORCE_ROOT)
  int pool_child = 0;  ///< internal: > 0 when started as prefork child number N
  std::string config;  ///< --config FILE; empty: none
  /// Lines to log as warnings once logging is set up (ignored keys of the config file).
  std::vector<std::string> config_warnings;
};

/// Parses argv (and the --config file). On --help/--version or an error, prints as CLI11 does
/// (config file errors: "Error: Invalid value for '--config': ..." on stderr) and returns false
/// with the exit code in `exit_code`.
bool ParseCommandLine(int argc, char** argv, CliOptions* out, int* exit_code);

}  // namespace cw::cli

// `--config FILE`: a JSON settings file with Celery's setting names, for the settings a
// celeryconfig.py would hold (broker_url, task_routes, task_acks_late, ...).
//
//   {"broker_url": "redis://127.0.0.1:6379/0",
//    "task_routes": {"pyside.*": "python", "tasks.add": {"queue": "cpp"}},
//    "task_acks_late": true}
//
// Every setting is optional; a setting left out keeps its command-line or default value.
// Unknown (or unsupported) keys are not errors: they come back as warnings for the log, as a
// typo in a celeryconfig.py is silently ignored by Celery. Malformed JSON, a value of the wrong
// type or an unreadable file throw ConfigError with a message naming the file and the key.
#pragma once

#include <cstddef>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "canvas/router.h"

namespace cw::cli {

class ConfigError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

/// The settings a config file gave; nullopt / empty: not in the file.
struct ConfigFile {
  std::optional<std::string> broker_url;
  std::optional<std::string> result_backend;  ///< "" when the file says null (results disabled)
  std::vector<canvas::RouteRule> task_routes;  ///< in file order
  std::optional<std::string> task_default_queue;
  std::optional<bool> task_acks_late;
  std::optional<int> result_expires;  ///< seconds; null in the file (never) -> 0
  std::optional<bool> result_extended;
  std::optional<bool> task_track_started;
  std::optional<int> worker_prefetch_multiplier;
  std::optional<int> worker_concurrency;  ///< null in the file -> 0 (number of CPUs)
  std::optional<size_t> worker_eta_task_limit;  ///< null in the file (no limit) -> 0
  /// broker_transport_options: {"visibility_timeout": seconds, "master_name": "..."}.
  std::optional<double> visibility_timeout;
  std::optional<std::string> master_name;
  std::optional<std::string> global_keyprefix;  ///< kombu 5.3+
  /// result_backend_transport_options: {"master_name": "...", "global_keyprefix": "..."}.
  std::optional<std::string> backend_master_name;
  std::optional<std::string> backend_global_keyprefix;
  std::optional<bool> task_reject_on_worker_lost;
  std::optional<bool> worker_send_task_events;
  std::optional<std::string> worker_state_db;
  std::optional<int> worker_max_tasks_per_child;       ///< null in the file (never) -> 0
  std::optional<int64_t> worker_max_memory_per_child;  ///< KiB; null in the file (never) -> 0
  /// One line per ignored key ("config.json: ignoring unknown setting 'task_queuez'").
  std::vector<std::string> warnings;
};

/// Parses the text of a config file; `source` names it in messages. Throws ConfigError.
ConfigFile ParseConfig(std::string_view text, const std::string& source);

/// Reads and parses `path`. Throws ConfigError (also when the file cannot be read).
ConfigFile LoadConfigFile(const std::string& path);

}  // namespace cw::cli

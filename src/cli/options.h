// The command line, in Celery's words (`celery -A tasks worker -P solo -c 1 -Q a,b -l INFO`).
#pragma once

#include <string>
#include <vector>

namespace cw::cli {

struct CliOptions {
  std::string app;  ///< -A: the task library ("tasks" or a path to a .so)
  std::string broker;
  std::string result_backend;  ///< empty: results disabled
  std::string pool = "solo";
  int concurrency = 0;  ///< 0: number of CPUs, as Celery
  std::vector<std::string> queues;
  std::string loglevel = "WARNING";
  std::string hostname = "celery@%h";
  int prefetch_multiplier = 4;
  bool acks_late = false;
  int result_expires = 86400;
};

/// Parses argv. On --help/--version or an error, prints as CLI11 does and returns the exit code
/// through `exit_code` with false.
bool ParseCommandLine(int argc, char** argv, CliOptions* out, int* exit_code);

}  // namespace cw::cli

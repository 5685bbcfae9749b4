// What `--http`'s /metrics serves, in the Prometheus text exposition format (version 0.0.4):
// task counters and runtime histograms by task name, kept here, and gauges the caller reads
// at scrape time (active, prefetched, reconnects...). Thread-safe: the worker counts from its
// loop, the HTTP thread renders.
#pragma once

#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <vector>

namespace cw::monitoring {

enum class TaskEvent { kReceived, kSucceeded, kFailed, kRetried, kRevoked, kRejected };

/// One sample the caller computes at scrape time.
struct Sample {
  std::string name;  ///< metric name, e.g. "cworker_tasks_active"
  std::string help;
  std::string type;  ///< "gauge" or "counter"
  double value = 0;
};

class Metrics {
 public:
  /// Upper bounds of the runtime histogram, in seconds (Prometheus' client defaults, widened).
  static const std::vector<double>& RuntimeBuckets();

  void Count(TaskEvent event, const std::string& task);
  void ObserveRuntime(const std::string& task, double seconds);
  int64_t count(TaskEvent event, const std::string& task) const;

  /// The exposition: every counter family (a HELP and TYPE line even when empty), the runtime
  /// histogram, then `samples`.
  std::string Render(const std::vector<Sample>& samples) const;

 private:
  struct Histogram {
    std::vector<int64_t> buckets;  ///< per upper bound, not cumulative
    int64_t count = 0;
    double sum = 0;
  };
  mutable std::mutex mutex_;
  std::map<std::pair<TaskEvent, std::string>, int64_t> counts_;
  std::map<std::string, Histogram> runtimes_;
};

/// A label value escaped as the format wants (backslash, double quote, newline).
std::string EscapeLabel(const std::string& value);

}  // namespace cw::monitoring

#include "monitoring/metrics.h"

#include <cmath>

#include <fmt/format.h>

namespace cw::monitoring {
namespace {

struct Family {
  TaskEvent event;
  const char* name;
  const char* help;
};

constexpr Family kFamilies[] = {
    {TaskEvent::kReceived, "cworker_tasks_received_total", "Task messages received, by task name."},
    {TaskEvent::kSucceeded, "cworker_tasks_succeeded_total", "Tasks that succeeded, by task name."},
    {TaskEvent::kFailed, "cworker_tasks_failed_total", "Tasks that failed, by task name."},
    {TaskEvent::kRetried, "cworker_tasks_retried_total", "Tasks that asked to be retried, by task name."},
    {TaskEvent::kRevoked, "cworker_tasks_revoked_total", "Tasks discarded as revoked or expired, or terminated, by task name."},
    {TaskEvent::kRejected, "cworker_tasks_rejected_total", "Tasks rejected (requeued or dropped), by task name."},
};

// Prometheus' float text: integers without a fraction, +Inf spelled its way.
std::string Number(double v) {
  if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
  if (std::isnan(v)) return "NaN";
  return fmt::format("{}", v);
}

}  // namespace

const std::vector<double>& Metrics::RuntimeBuckets() {
  static const std::vector<double> kBuckets = {0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5,
                                               1,     2.5,  5,     10,   30,  60,  300};
  return kBuckets;
}

std::string EscapeLabel(const std::string& value) {
  std::string out;
  for (char c : value) {
    if (c == '\\') out += "\\\\";
    else if (c == '"') out += "\\\"";
    else if (c == '\n') out += "\\n";
    else out += c;
  }
  return out;
}

void Metrics::Count(TaskEvent event, const std::string& task) {
  std::lock_guard lock(mutex_);
  ++counts_[{event, task}];
}

void Metrics::ObserveRuntime(const std::string& task, double seconds) {
  const auto& bounds = RuntimeBuckets();
  std::lock_guard lock(mutex_);
  Histogram& h = runtimes_[task];
  if (h.buckets.empty()) h.buckets.assign(bounds.size(), 0);
  for (size_t i = 0; i < bounds.size(); ++i) {
    if (seconds <= bounds[i]) {
      ++h.buckets[i];
      break;
    }
  }
  ++h.count;
  h.sum += seconds;
}

int64_t Metrics::count(TaskEvent event, const std::string& task) const {
  std::lock_guard lock(mutex_);
  auto it = counts_.find({event, task});
  return it == counts_.end() ? 0 : it->second;
}

std::string Metrics::Render(const std::vector<Sample>& samples) const {
  std::string out;
  std::lock_guard lock(mutex_);
  for (const Family& f : kFamilies) {
    out += fmt::format("# HELP {} {}\n# TYPE {} counter\n", f.name, f.help, f.name);
    for (const auto& [key, n] : counts_) {
      if (key.first == f.event) {
        out += fmt::format("{}{{name=\"{}\"}} {}\n", f.name, EscapeLabel(key.second), n);
      }
    }
  }
  const char* kRuntime = "cworker_task_runtime_seconds";
  out += fmt::format("# HELP {} Wall time of task calls, by task name.\n# TYPE {} histogram\n",
                     kRuntime, kRuntime);
  const auto& bounds = RuntimeBuckets();
  for (const auto& [task, h] : runtimes_) {
    const std::string label = EscapeLabel(task);
    int64_t cumulative = 0;
    for (size_t i = 0; i < bounds.size(); ++i) {
      cumulative += h.buckets[i];
      out += fmt::format("{}_bucket{{name=\"{}\",le=\"{}\"}} {}\n", kRuntime, label,
                         Number(bounds[i]), cumulative);
    }
    out += fmt::format("{}_bucket{{name=\"{}\",le=\"+Inf\"}} {}\n", kRuntime, label, h.count);
    out += fmt::format("{}_sum{{name=\"{}\"}} {}\n", kRuntime, label, Number(h.sum));
    out += fmt::format("{}_count{{name=\"{}\"}} {}\n", kRuntime, label, h.count);
  }
  for (const Sample& s : samples) {
    out += fmt::format("# HELP {} {}\n# TYPE {} {}\n{} {}\n", s.name, s.help, s.name, s.type,
                       s.name, Number(s.value));
  }
  return out;
}

}  // namespace cw::monitoring

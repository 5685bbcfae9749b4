// What travels in the prefork pool's frames (pools/frame.h), as JSON bodies: the job a child
// runs (task name, Celery's request fields, args, kwargs, soft time limit) and the Outcome it
// sends back. Both sides are the same binary, so the format only needs to round-trip.
#pragma once

#include <optional>
#include <string>

#include <cworker/task.h>

#include "exec/executor.h"

namespace cw::pools {

struct Job {
  RequestInfo request;  ///< request.task names the task
  Json args = Json::Array{};
  Json kwargs = Json::Object{};
  std::optional<double> soft_time_limit;  ///< seconds; the child enforces it
};

std::string EncodeJob(const Job& job);
/// Throws JsonError (or std::invalid_argument) when `body` is not an encoded job.
Job DecodeJob(const std::string& body);

/// A child's answer: the call's outcome and the child's resident memory afterwards.
struct JobResult {
  exec::Outcome outcome;
  int64_t rss_kib = 0;
};

std::string EncodeResult(const JobResult& result);
JobResult DecodeResult(const std::string& body);

}  // namespace cw::pools

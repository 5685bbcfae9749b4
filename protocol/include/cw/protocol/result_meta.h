// The result backend's state records ("celery-task-meta-<id>"), byte-compatible with what
// Celery 5.2's Redis backend writes: keys in Celery's order, task_id last.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include <cworker/json.h>

namespace cw::protocol {

/// Celery's JSON form of an exception.
struct ExceptionInfo {
  std::string exc_type;
  std::string exc_module;
  Json exc_message = Json::Array{};  ///< the exception's args
  /// {"exc_type": ..., "exc_message": [...], "exc_module": ...} in Celery's key order.
  Json ToJson() const;
};

/// Optional fields written with result_extended=True.
struct ExtendedFields {
  std::string name;
  Json args;
  Json kwargs;
  std::string worker;
  int64_t retries = 0;
  std::string queue;
};

struct ResultMeta {
  std::string status;  ///< SUCCESS, FAILURE, STARTED, RETRY, REVOKED
  Json result;         ///< return value, exception dict, or STARTED info
  std::optional<std::string> traceback;
  Json children = Json::Array{};
  std::optional<std::string> date_done;  ///< set for ready states
  std::string group_id;   ///< written only when non-empty
  std::string parent_id;  ///< written only when non-empty
  std::optional<ExtendedFields> extended;
  std::string task_id;
};

/// The record as Celery writes it (Python json.dumps text).
std::string EncodeResultMeta(const ResultMeta& meta);

}  // namespace cw::protocol

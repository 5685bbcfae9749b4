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

/// Optional fields written with result_extended=True. The views and pointers refer to the
/// caller's data (the task's message), which outlives the encoding.
struct ExtendedFields {
  std::string_view name;
  const Json* args = nullptr;    ///< null writes []
  const Json* kwargs = nullptr;  ///< null writes {}
  std::string_view worker;
  int64_t retries = 0;
  std::string_view queue;
};

/// One state record. The text fields view the caller's strings (the task's message, a stack
/// buffer): building and encoding a record copies nothing but the bytes written.
struct ResultMeta {
  std::string_view status;  ///< SUCCESS, FAILURE, STARTED, RETRY, REVOKED
  Json result;              ///< return value, exception dict, or STARTED info
  std::optional<std::string_view> traceback;
  Json children = Json::Array{};
  std::optional<std::string_view> date_done;  ///< set for ready states
  std::string_view group_id;   ///< written only when non-empty
  std::string_view parent_id;  ///< written only when non-empty
  std::optional<ExtendedFields> extended;
  std::string_view task_id;
};

/// Appends the record as Celery writes it (Python json.dumps text) to `out`.
void AppendResultMeta(const ResultMeta& meta, std::string* out);
/// The record as Celery writes it (Python json.dumps text).
std::string EncodeResultMeta(const ResultMeta& meta);

}  // namespace cw::protocol

// Result records in Celery 5.2's key order (verified against captured SETEX values).
//
// The record is written straight into the caller's buffer, key by key, rather than built as a
// Json object and dumped: one record per task is the hot path, and this copies nothing but the
// bytes that go out.
#include "cw/protocol/result_meta.h"

#include <charconv>

#include "text_util.h"

namespace cw::protocol {

Json ExceptionInfo::ToJson() const {
  return Json::MakeObject(
      {{"exc_type", exc_type}, {"exc_message", exc_message}, {"exc_module", exc_module}});
}

namespace {

using internal::AppendString;
using internal::AppendValue;

// Appends `, "key": ` (no comma before the first member).
void Key(std::string_view key, bool first, std::string* out) {
  if (!first) out->append(", ");
  AppendString(key, out);
  out->append(": ");
}

void OptionalString(const std::optional<std::string_view>& s, std::string* out) {
  if (s) {
    AppendString(*s, out);
  } else {
    out->append("null");
  }
}

}  // namespace

void AppendResultMeta(const ResultMeta& meta, std::string* out) {
  // Celery builds the dict as status, result, traceback, children, date_done, then group_id
  // and parent_id when the request has them, then the result_extended fields, and adds
  // task_id last when storing.
  out->push_back('{');
  Key("status", true, out);
  AppendString(meta.status, out);
  Key("result", false, out);
  AppendValue(meta.result, out);
  Key("traceback", false, out);
  OptionalString(meta.traceback, out);
  Key("children", false, out);
  AppendValue(meta.children, out);
  Key("date_done", false, out);
  OptionalString(meta.date_done, out);
  if (!meta.group_id.empty()) {
    Key("group_id", false, out);
    AppendString(meta.group_id, out);
  }
  if (!meta.parent_id.empty()) {
    Key("parent_id", false, out);
    AppendString(meta.parent_id, out);
  }
  if (meta.extended) {
    const ExtendedFields& x = *meta.extended;
    Key("name", false, out);
    AppendString(x.name, out);
    Key("args", false, out);
    if (x.args != nullptr) {
      AppendValue(*x.args, out);
    } else {
      out->append("[]");
    }
    Key("kwargs", false, out);
    if (x.kwargs != nullptr) {
      AppendValue(*x.kwargs, out);
    } else {
      out->append("{}");
    }
    Key("worker", false, out);
    AppendString(x.worker, out);
    Key("retries", false, out);
    char digits[24];
    const auto [end, ec] = std::to_chars(digits, digits + sizeof digits, x.retries);
    out->append(digits, static_cast<size_t>(end - digits));
    Key("queue", false, out);
    AppendString(x.queue, out);
  }
  Key("task_id", false, out);
  AppendString(meta.task_id, out);
  out->push_back('}');
}

std::string EncodeResultMeta(const ResultMeta& meta) {
  std::string out;
  AppendResultMeta(meta, &out);
  return out;
}

}  // namespace cw::protocol

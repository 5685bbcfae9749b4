// Result records in Celery 5.2's key order (verified against captured SETEX values).
#include "cw/protocol/result_meta.h"

namespace cw::protocol {

Json ExceptionInfo::ToJson() const {
  return Json::MakeObject(
      {{"exc_type", exc_type}, {"exc_message", exc_message}, {"exc_module", exc_module}});
}

std::string EncodeResultMeta(const ResultMeta& meta) {
  // Celery builds the dict as status, result, traceback, children, date_done, then group_id
  // and parent_id when the request has them, then the result_extended fields, and adds
  // task_id last when storing.
  Json record = Json::MakeObject({
      {"status", meta.status},
      {"result", meta.result},
      {"traceback", meta.traceback ? Json(*meta.traceback) : Json()},
      {"children", meta.children},
      {"date_done", meta.date_done ? Json(*meta.date_done) : Json()},
  });
  if (!meta.group_id.empty()) record.Set("group_id", meta.group_id);
  if (!meta.parent_id.empty()) record.Set("parent_id", meta.parent_id);
  if (meta.extended) {
    const ExtendedFields& x = *meta.extended;
    record.Set("name", x.name);
    record.Set("args", x.args);
    record.Set("kwargs", x.kwargs);
    record.Set("worker", x.worker);
    record.Set("retries", x.retries);
    record.Set("queue", x.queue);
  }
  record.Set("task_id", meta.task_id);
  return record.Dump();
}

}  // namespace cw::protocol

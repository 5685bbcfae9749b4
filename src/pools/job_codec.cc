#include "pools/job_codec.h"

#include <stdexcept>

namespace cw::pools {
namespace {

const std::string& Str(const Json& obj, std::string_view key) { return obj.At(key).as_string(); }

std::optional<double> OptDouble(const Json& obj, std::string_view key) {
  const Json* v = obj.Find(key);
  if (v == nullptr || v->is_null()) return std::nullopt;
  return v->as_double();
}

Json EncodeRequest(const RequestInfo& r) {
  return Json::MakeObject({
      {"id", r.id},
      {"task", r.task},
      {"root_id", r.root_id},
      {"parent_id", r.parent_id},
      {"group_id", r.group_id},
      {"group_index", r.group_index ? Json(*r.group_index) : Json()},
      {"retries", r.retries},
      {"hostname", r.hostname},
      {"origin", r.origin},
      {"reply_to", r.reply_to},
      {"correlation_id", r.correlation_id},
      {"eta", r.eta},
      {"expires", r.expires},
      {"delivery_info", r.delivery_info},
      {"headers", r.headers},
  });
}

RequestInfo DecodeRequest(const Json& j) {
  RequestInfo r;
  r.id = Str(j, "id");
  r.task = Str(j, "task");
  r.root_id = Str(j, "root_id");
  r.parent_id = Str(j, "parent_id");
  r.group_id = Str(j, "group_id");
  if (!j.At("group_index").is_null()) r.group_index = j.At("group_index").as_int();
  r.retries = j.At("retries").as_int();
  r.hostname = Str(j, "hostname");
  r.origin = Str(j, "origin");
  r.reply_to = Str(j, "reply_to");
  r.correlation_id = Str(j, "correlation_id");
  r.eta = Str(j, "eta");
  r.expires = Str(j, "expires");
  r.delivery_info = j.At("delivery_info");
  r.headers = j.At("headers");
  return r;
}

const char* KindName(exec::OutcomeKind kind) {
  switch (kind) {
    case exec::OutcomeKind::kSuccess:
      return "success";
    case exec::OutcomeKind::kFailure:
      return "failure";
    case exec::OutcomeKind::kReject:
      return "reject";
    case exec::OutcomeKind::kIgnore:
      return "ignore";
    case exec::OutcomeKind::kRetry:
      return "retry";
  }
  return "failure";
}

exec::OutcomeKind KindFromName(const std::string& name) {
  if (name == "success") return exec::OutcomeKind::kSuccess;
  if (name == "failure") return exec::OutcomeKind::kFailure;
  if (name == "reject") return exec::OutcomeKind::kReject;
  if (name == "ignore") return exec::OutcomeKind::kIgnore;
  if (name == "retry") return exec::OutcomeKind::kRetry;
  throw std::invalid_argument("unknown outcome kind '" + name + "'");
}

}  // namespace

std::string EncodeJob(const Job& job) {
  return Json::MakeObject({{"request", EncodeRequest(job.request)},
                           {"args", job.args},
                           {"kwargs", job.kwargs},
                           {"soft_time_limit",
                            job.soft_time_limit ? Json(*job.soft_time_limit) : Json()}})
      .Dump();
}

Job DecodeJob(const std::string& body) {
  const Json j = Json::Parse(body);
  Job job;
  job.request = DecodeRequest(j.At("request"));
  job.args = j.At("args");
  job.kwargs = j.At("kwargs");
  job.soft_time_limit = OptDouble(j, "soft_time_limit");
  return job;
}

std::string EncodeResult(const JobResult& result) {
  const exec::Outcome& o = result.outcome;
  Json retry_eta;
  if (o.retry_eta) {
    retry_eta = Json(static_cast<int64_t>(
        std::chrono::duration_cast<std::chrono::microseconds>(o.retry_eta->time_since_epoch())
            .count()));
  }
  return Json::MakeObject({
                              {"kind", KindName(o.kind)},
                              {"result", o.result},
                              {"exc_type", o.exception.exc_type},
                              {"exc_module", o.exception.exc_module},
                              {"exc_message", o.exception.exc_message},
                              {"traceback", o.traceback},
                              {"exception_repr", o.exception_repr},
                              {"requeue", o.requeue},
                              {"retry_countdown", o.retry_countdown},
                              {"retry_eta_us", std::move(retry_eta)},
                              {"has_exception", o.has_exception},
                              {"runtime_s", o.runtime_s},
                              {"rss_kib", result.rss_kib},
                          })
      .Dump();
}

JobResult DecodeResult(const std::string& body) {
  const Json j = Json::Parse(body);
  JobResult r;
  exec::Outcome& o = r.outcome;
  o.kind = KindFromName(Str(j, "kind"));
  o.result = j.At("result");
  o.exception.exc_type = Str(j, "exc_type");
  o.exception.exc_module = Str(j, "exc_module");
  o.exception.exc_message = j.At("exc_message");
  o.traceback = Str(j, "traceback");
  o.exception_repr = Str(j, "exception_repr");
  o.requeue = j.At("requeue").as_bool();
  o.retry_countdown = j.At("retry_countdown").as_double();
  if (!j.At("retry_eta_us").is_null()) {
    o.retry_eta = std::chrono::system_clock::time_point(
        std::chrono::duration_cast<std::chrono::system_clock::duration>(
            std::chrono::microseconds(j.At("retry_eta_us").as_int())));
  }
  o.has_exception = j.At("has_exception").as_bool();
  o.runtime_s = j.At("runtime_s").as_double();
  r.rss_kib = j.At("rss_kib").as_int();
  return r;
}

}  // namespace cw::pools

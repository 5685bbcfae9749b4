#include <cw/protocol/task_encode.h>

#include <cmath>

#include <cw/protocol/base64.h>

namespace cw::protocol {
namespace {

Json TextOrNull(const std::string& s) { return s.empty() ? Json() : Json(s); }

// Python sends time limits as given: 1 stays an int, 1.5 a float.
Json Seconds(const std::optional<double>& s) {
  if (!s) return Json();
  double whole = 0;
  if (std::modf(*s, &whole) == 0.0 && std::abs(whole) < 9e15) return Json(static_cast<int64_t>(whole));
  return Json(*s);
}

}  // namespace

std::string EncodeTaskEnvelope(const TaskMessage& msg, const PublishTarget& target) {
  Json headers = Json::MakeObject({
      {"lang", "py"},
      {"task", msg.task},
      {"id", msg.id},
      {"shadow", TextOrNull(msg.shadow)},
      {"eta", TextOrNull(msg.eta)},
      {"expires", TextOrNull(msg.expires)},
      {"group", TextOrNull(msg.group)},
      {"group_index", msg.group_index ? Json(*msg.group_index) : Json()},
      {"retries", msg.retries},
      {"timelimit", Json::MakeArray({Seconds(msg.time_limit), Seconds(msg.soft_time_limit)})},
      {"root_id", TextOrNull(msg.root_id.empty() ? msg.id : msg.root_id)},
      {"parent_id", TextOrNull(msg.parent_id)},
      {"argsrepr", msg.argsrepr},
      {"kwargsrepr", msg.kwargsrepr},
      {"origin", msg.origin},
      {"ignore_result", msg.ignore_result},
  });
  // Celery >= 5.3 headers, carried when the message we derive from had them.
  for (const char* key : {"replaced_task_nesting", "stamped_headers", "stamps"}) {
    if (const Json* v = msg.headers.Find(key)) headers.Set(key, *v);
  }
  const Json body = Json::MakeArray({msg.args, msg.kwargs, msg.embed});
  const Json envelope = Json::MakeObject({
      {"body", Base64Encode(body.Dump())},
      {"content-encoding", "utf-8"},
      {"content-type", "application/json"},
      {"headers", std::move(headers)},
      {"properties",
       Json::MakeObject({
           {"correlation_id", msg.id},
           {"reply_to", msg.reply_to},
           {"delivery_mode", 2},
           {"delivery_info",
            Json::MakeObject({{"exchange", target.exchange}, {"routing_key", target.routing_key}})},
           {"priority", target.priority},
           {"body_encoding", "base64"},
           {"delivery_tag", target.delivery_tag},
       })},
  });
  return envelope.Dump();
}

std::string EncodeTransientEnvelope(std::string_view body, Json headers,
                                    const std::string& exchange, const std::string& routing_key,
                                    const std::string& delivery_tag) {
  return Json::MakeObject(
             {{"body", Base64Encode(body)},
              {"content-encoding", "utf-8"},
              {"content-type", "application/json"},
              {"headers", std::move(headers)},
              {"properties",
               Json::MakeObject({{"delivery_mode", 1},
                                 {"delivery_info", Json::MakeObject({{"exchange", exchange},
                                                                     {"routing_key", routing_key}})},
                                 {"priority", 0},
                                 {"body_encoding", "base64"},
                                 {"delivery_tag", delivery_tag}})}})
      .Dump();
}

}  // namespace cw::protocol

// The fuzz target over everything that reads bytes from Redis: the kombu envelope, the task
// body (base64, zlib/gzip, JSON, protocol v1/v2, kombu 5.3 type markers) and result records.
// The first byte picks what the rest is:
//   0: a whole envelope, as LPUSHed to a queue;
//   1: a task body, wrapped in a valid protocol-v2 envelope (so mutations reach the body
//      decoder instead of failing at the envelope);
//   2: a result record (celery-task-meta-<id>), as a chord or AsyncResult reads it back.
// Beyond "no crash, no sanitizer report", it checks what must hold for any input: a decoded
// message's fields are well-formed, and the JSON writer's output parses back to itself.
// Built with libFuzzer by scripts/fuzz.sh (clang), and replayed over the corpus and the kept
// regressions by the protocol_fuzz_replay test in every build.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include <cw/protocol/base64.h>
#include <cw/protocol/python_repr.h>
#include <cw/protocol/task_message.h>
#include <cw/protocol/time_format.h>
#include <cworker/json.h>

namespace {

namespace p = cw::protocol;
using cw::Json;

[[noreturn]] void Violated(const char* what) {
  std::fprintf(stderr, "fuzz invariant violated: %s\n", what);
  std::abort();
}

// Writing a parsed value and parsing it again gives the same text (Python's json.dumps form).
void CheckRoundTrip(const Json& value) {
  const std::string once = value.Dump();
  Json again;
  try {
    again = Json::Parse(once);
  } catch (const cw::JsonError&) {
    Violated("Dump() wrote text Parse() refuses");
  }
  if (again.Dump() != once) Violated("Dump(Parse(Dump(x))) != Dump(x)");
}

void Envelope(std::string_view text) {
  std::string error;
  std::optional<p::Envelope> env = p::ParseEnvelope(text, &error);
  if (!env) {
    if (error.empty()) Violated("envelope refused without a reason");
    return;
  }
  if (env->priority < 0 || env->priority > 9) Violated("priority outside 0..9");
  CheckRoundTrip(env->doc);
  p::DecodeError derr;
  std::optional<p::TaskMessage> msg = p::DecodeTaskMessage(*env, &derr);
  if (!msg) {
    if (derr.message.empty()) Violated("message refused without a reason");
    return;
  }
  if (msg->id.empty() || msg->task.empty()) Violated("decoded message without id or task");
  if (!msg->args.is_array() || !msg->kwargs.is_object()) Violated("args/kwargs of wrong type");
  (void)p::PyRepr(msg->args);
  (void)p::PyReprTruncated(msg->kwargs, 256);
  if (!msg->eta.empty()) (void)p::ParseIsoTime(msg->eta);
  if (!msg->expires.empty()) (void)p::ParseIsoTime(msg->expires);
  CheckRoundTrip(msg->embed);
}

void Body(std::string_view body) {
  std::string encoded = p::Base64Encode(body);
  std::string envelope =
      R"({"body": ")" + encoded +
      R"(", "content-encoding": "utf-8", "content-type": "application/json", "headers": )"
      R"({"lang": "py", "task": "tasks.add", "id": "f0e1d2c3-0000-4000-8000-000000000001", )"
      R"("retries": 0, "timelimit": [null, null], "root_id": null, "parent_id": null, )"
      R"("argsrepr": "", "kwargsrepr": "", "origin": "fuzz"}, "properties": )"
      R"({"correlation_id": "f0e1d2c3-0000-4000-8000-000000000001", "reply_to": "r", )"
      R"("delivery_mode": 2, "delivery_info": {"exchange": "", "routing_key": "celery"}, )"
      R"("priority": 0, "body_encoding": "base64", "delivery_tag": "t"}})";
  Envelope(envelope);
}

void ResultRecord(std::string_view text) {
  Json record;
  try {
    record = Json::Parse(text);
  } catch (const cw::JsonError&) {
    return;
  }
  CheckRoundTrip(record);
  if (!record.is_object()) return;
  if (Json* result = record.Find("result"); result != nullptr) {
    Json copy = *result;
    p::DecodeTypeMarkers(copy);
    (void)p::PyRepr(copy);
    CheckRoundTrip(copy);
  }
  if (const Json* date = record.Find("date_done"); date != nullptr && date->is_string()) {
    (void)p::ParseIsoTime(date->as_string());
  }
  std::string decoded;
  if (const Json* tb = record.Find("traceback"); tb != nullptr && tb->is_string()) {
    (void)p::Base64Decode(tb->as_string(), &decoded);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const std::string_view rest(reinterpret_cast<const char*>(data + 1), size - 1);
  switch (data[0] % 3) {
    case 0:
      Envelope(rest);
      break;
    case 1:
      Body(rest);
      break;
    default:
      ResultRecord(rest);
      break;
  }
  return 0;
}

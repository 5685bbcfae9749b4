// Decoding kombu's Redis envelope and Celery's task protocol (v2, and v1 mapped onto v2).
#include "cw/protocol/task_message.h"

#include <zlib.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <exception>
#include <utility>

#include "cw/protocol/base64.h"
#include "cw/protocol/python_repr.h"
#include "cw/protocol/time_format.h"
#include "text_util.h"

namespace cw::protocol {

namespace {

using Kind = DecodeError::Kind;

// A compressed body may expand to at most this much; a zip bomb fails instead of eating memory.
constexpr size_t kMaxInflatedBytes = size_t{64} << 20;
// Celery truncates argsrepr/kwargsrepr to this many characters.
constexpr size_t kMaxReprChars = 1024;

bool Fail(DecodeError* error, Kind kind, std::string message) {
  error->kind = kind;
  error->message = std::move(message);
  return false;
}

std::string Lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

std::string_view Trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

/// A string member, or "" when missing, null or of another type (informational fields).
std::string LooseString(const Json& object, std::string_view key) {
  const Json* v = object.Find(key);
  return v != nullptr && v->is_string() ? v->as_string() : std::string();
}

/// LooseString() that moves the string out of `object` (a document being consumed).
std::string TakeLooseString(Json* object, std::string_view key) {
  Json* v = object->Find(key);
  return v != nullptr && v->is_string() ? std::move(v->as_string()) : std::string();
}

/// ASCII case-insensitive equality, for media type and encoding names.
bool EqualsIgnoringCase(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) ==
                  std::tolower(static_cast<unsigned char>(y));
         });
}

/// A member's value, or null when missing.
Json MemberOrNull(const Json& object, std::string_view key) {
  const Json* v = object.Find(key);
  return v != nullptr ? *v : Json();
}

/// A string-or-null member; another type is an invalid task naming the field.
bool StrictString(const Json& object, std::string_view key, std::string* out, DecodeError* error) {
  const Json* v = object.Find(key);
  if (v == nullptr || v->is_null()) {
    out->clear();
    return true;
  }
  if (!v->is_string()) {
    return Fail(error, Kind::kInvalidTask,
                std::string(key) + " must be a string, got " + v->python_type_name());
  }
  *out = v->as_string();
  return true;
}

/// kombu's ContentDisallowed text: "... of type pickle (application/x-python-serialize)".
std::string DisallowedMessage(std::string_view content_type) {
  static constexpr std::array<std::pair<std::string_view, std::string_view>, 3> kNames = {{
      {"application/x-python-serialize", "pickle"},
      {"application/x-yaml", "yaml"},
      {"application/x-msgpack", "msgpack"},
  }};
  std::string what;
  if (content_type.empty()) {
    what = "unknown (no content-type)";
  } else {
    what = std::string(content_type);
    const std::string lower = Lower(content_type);
    for (const auto& [type, name] : kNames) {
      if (lower == type) what = std::string(name) + " (" + std::string(content_type) + ")";
    }
  }
  return "Refusing to deserialize untrusted content of type " + what;
}

bool IsJsonContentType(const Json& doc, DecodeError* error) {
  const Json* ct = doc.Find("content-type");
  const std::string_view raw =
      ct != nullptr && ct->is_string() ? std::string_view(ct->as_string()) : std::string_view();
  if (EqualsIgnoringCase(Trim(raw.substr(0, raw.find(';'))), "application/json")) return true;
  return Fail(error, Kind::kContentDisallowed, DisallowedMessage(Trim(raw)));
}

bool Inflate(std::string_view in, std::string* out, DecodeError* error) {
  z_stream zs{};
  if (inflateInit2(&zs, 15 + 32) != Z_OK) {  // 15 + 32: zlib or gzip header, detected
    return Fail(error, Kind::kDecodeError, "Can't decode message body: zlib init failed");
  }
  zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
  zs.avail_in = static_cast<uInt>(in.size());
  out->clear();
  char chunk[64 * 1024];
  int rc = Z_OK;
  while (rc != Z_STREAM_END) {
    zs.next_out = reinterpret_cast<Bytef*>(chunk);
    zs.avail_out = sizeof(chunk);
    rc = inflate(&zs, Z_NO_FLUSH);
    if (rc != Z_OK && rc != Z_STREAM_END) break;
    out->append(chunk, sizeof(chunk) - zs.avail_out);
    if (out->size() > kMaxInflatedBytes) {
      inflateEnd(&zs);
      out->clear();
      return Fail(error, Kind::kDecodeError,
                  "Can't decode message body: decompressed size exceeds 64 MiB");
    }
    if (rc == Z_OK && zs.avail_in == 0 && zs.avail_out != 0) break;  // truncated input
  }
  inflateEnd(&zs);
  if (rc != Z_STREAM_END) {
    out->clear();
    return Fail(error, Kind::kDecodeError, "Can't decode message body: invalid compressed data");
  }
  return true;
}

/// body -> base64 per properties.body_encoding -> decompress per headers.compression -> JSON.
bool DecodeBody(const Json& doc, const Json& properties, const Json& headers, Json* out,
                DecodeError* error) {
  const Json* body = doc.Find("body");
  if (body == nullptr || !body->is_string()) {
    return Fail(error, Kind::kDecodeError, "Can't decode message body: body is not a string");
  }
  std::string bytes;
  const Json* encoding = properties.Find("body_encoding");
  const std::string enc =
      encoding != nullptr && encoding->is_string() ? Lower(encoding->as_string()) : std::string();
  if (enc == "base64") {
    if (!Base64Decode(body->as_string(), &bytes)) {
      return Fail(error, Kind::kDecodeError, "Can't decode message body: invalid base64");
    }
  } else if (enc.empty() || enc == "utf-8" || enc == "utf8") {
    // kombu >= 5.4 treats "utf-8" as "not encoded"; a missing encoding means the same.
    bytes = body->as_string();
  } else {
    return Fail(error, Kind::kDecodeError, "unsupported body encoding " + enc);
  }
  const Json* compression = headers.Find("compression");
  if (compression != nullptr && !compression->is_null()) {
    const std::string name =
        compression->is_string() ? compression->as_string() : compression->Dump();
    const std::string lower = Lower(name);
    if (lower != "application/x-gzip" && lower != "gzip" && lower != "zlib") {
      return Fail(error, Kind::kDecodeError, "unsupported compression " + name);
    }
    std::string inflated;
    if (!Inflate(bytes, &inflated, error)) return false;
    bytes = std::move(inflated);
  }
  try {
    *out = Json::Parse(bytes);
  } catch (const JsonError& e) {
    return Fail(error, Kind::kDecodeError, e.what());
  }
  return true;
}

bool CheckEmbedMember(const Json& value, std::string_view key, bool want_object,
                      DecodeError* error) {
  if (value.is_null() || (want_object ? value.is_object() : value.is_array())) return true;
  return Fail(error, Kind::kInvalidTask,
              "embed " + std::string(key) + " must be a " + (want_object ? "dict" : "list") +
                  " or None, got " + value.python_type_name());
}

/// {"callbacks", "errbacks", "chain", "chord"} in that order (nulls when absent), then any
/// extra keys the producer added. The values are moved out of `raw` (the caller's own copy).
bool NormalizeEmbed(Json* raw, Json* out, DecodeError* error) {
  if (raw != nullptr && !raw->is_null() && !raw->is_object()) {
    return Fail(error, Kind::kInvalidTask,
                std::string("embed must be a dict, got ") + raw->python_type_name());
  }
  static constexpr std::array<std::string_view, 4> kKeys = {"callbacks", "errbacks", "chain",
                                                            "chord"};
  if (raw != nullptr && raw->is_object() && raw->size() >= kKeys.size() &&
      std::equal(kKeys.begin(), kKeys.end(), raw->as_object().begin(),
                 [](std::string_view k, const auto& member) { return member.first == k; })) {
    // Celery's own order (every producer of ours and Python's): the object is taken as is.
    for (size_t i = 0; i < kKeys.size(); ++i) {
      if (!CheckEmbedMember(raw->as_object()[i].second, kKeys[i], kKeys[i] == "chord", error)) {
        return false;
      }
    }
    *out = std::move(*raw);
    return true;
  }
  Json::Object members;
  members.reserve(kKeys.size() + (raw != nullptr ? raw->size() : 0));
  for (const std::string_view key : kKeys) {
    Json* v = raw != nullptr ? raw->Find(key) : nullptr;
    Json value = v != nullptr ? std::move(*v) : Json();
    if (!CheckEmbedMember(value, key, key == "chord", error)) return false;
    members.emplace_back(std::string(key), std::move(value));
  }
  if (raw != nullptr && raw->is_object()) {
    for (auto& [key, value] : raw->as_object()) {
      if (std::find(kKeys.begin(), kKeys.end(), key) == kKeys.end()) {
        members.emplace_back(key, std::move(value));
      }
    }
  }
  *out = Json(std::move(members));
  return true;
}

bool ReadTime(const Json& fields, std::string_view key, std::string_view label, std::string* out,
              DecodeError* error) {
  if (!StrictString(fields, key, out, error)) return false;
  if (!out->empty() && !ParseIsoTime(*out)) {
    return Fail(error, Kind::kInvalidTask,
                "invalid " + std::string(label) + " value " + PyStrRepr(*out));
  }
  return true;
}

/// The header fields of a task (v2 headers, or a v1 body with the message headers merged).
bool ReadFields(const Json& fields, TaskMessage* m, DecodeError* error) {
  if (!StrictString(fields, "shadow", &m->shadow, error) ||
      !ReadTime(fields, "eta", "ETA", &m->eta, error) ||
      !ReadTime(fields, "expires", "expires", &m->expires, error) ||
      !StrictString(fields, "group", &m->group, error) ||
      !StrictString(fields, "root_id", &m->root_id, error) ||
      !StrictString(fields, "parent_id", &m->parent_id, error)) {
    return false;
  }
  if (m->root_id.empty()) m->root_id = m->id;
  if (const Json* gi = fields.Find("group_index"); gi != nullptr && !gi->is_null()) {
    if (!gi->is_int()) {
      return Fail(error, Kind::kInvalidTask,
                  std::string("group_index must be an int, got ") + gi->python_type_name());
    }
    m->group_index = gi->as_int();
  }
  if (const Json* r = fields.Find("retries"); r != nullptr && !r->is_null()) {
    if (!r->is_int()) {
      return Fail(error, Kind::kInvalidTask,
                  std::string("retries must be an int, got ") + r->python_type_name());
    }
    m->retries = r->as_int();
  }
  if (const Json* tl = fields.Find("timelimit"); tl != nullptr && !tl->is_null()) {
    const bool ok = tl->is_array() && tl->size() == 2 &&
                    std::all_of(tl->as_array().begin(), tl->as_array().end(),
                                [](const Json& v) { return v.is_null() || v.is_number(); });
    if (!ok) {
      return Fail(error, Kind::kInvalidTask,
                  "timelimit must be [hard, soft] numbers or None, got " + PyRepr(*tl));
    }
    if (!(*tl)[0].is_null()) m->time_limit = (*tl)[0].as_double();
    if (!(*tl)[1].is_null()) m->soft_time_limit = (*tl)[1].as_double();
  }
  if (const Json* ir = fields.Find("ignore_result"); ir != nullptr && !ir->is_null()) {
    if (!ir->is_bool()) {
      return Fail(error, Kind::kInvalidTask,
                  std::string("ignore_result must be a bool, got ") + ir->python_type_name());
    }
    m->ignore_result = ir->as_bool();
  }
  const Json* argsrepr = fields.Find("argsrepr");
  const Json* kwargsrepr = fields.Find("kwargsrepr");
  m->argsrepr =
      argsrepr != nullptr && argsrepr->is_string() ? argsrepr->as_string() : PyTupleReprTruncated(m->args, kMaxReprChars);
  m->kwargsrepr = kwargsrepr != nullptr && kwargsrepr->is_string()
                      ? kwargsrepr->as_string()
                      : PyReprTruncated(m->kwargs, kMaxReprChars);
  m->origin = LooseString(fields, "origin");
  return true;
}

/// Takes id and task; DecodeTaskMessage names them in any later error.
bool ReadIdentity(const Json* id, const Json* task, TaskMessage* m, DecodeError* error) {
  const auto fail = [&](std::string message) {
    if (id != nullptr && id->is_string()) error->task_id = id->as_string();
    if (task != nullptr && task->is_string()) error->task_name = task->as_string();
    return Fail(error, Kind::kInvalidTask, std::move(message));
  };
  if (id == nullptr || id->is_null()) return fail("task id missing");
  if (!id->is_string()) {
    return fail(std::string("id must be a string, got ") + id->python_type_name());
  }
  if (task == nullptr || !task->is_string()) {
    return fail(std::string("task must be a string, got ") +
                (task != nullptr ? task->python_type_name() : "nothing"));
  }
  if (id->as_string().empty()) return fail("empty task id");
  if (task->as_string().empty()) return fail("empty task name");
  m->id = id->as_string();
  m->task = task->as_string();
  return true;
}

bool CheckArgs(const Json& args, const Json& kwargs, DecodeError* error) {
  if (!args.is_array()) {
    return Fail(
        error, Kind::kInvalidTask,
        std::string("Task positional arguments must be a list, got ") + args.python_type_name());
  }
  if (!kwargs.is_object()) {
    return Fail(error, Kind::kInvalidTask, "Task keyword arguments must be a mapping");
  }
  return true;
}

Json DeliveryInfo(const Envelope& env, const Json& properties, const Json& headers) {
  Json redelivered;
  const Json* di = properties.Find("delivery_info");
  const Json* r = di != nullptr ? di->Find("redelivered") : nullptr;
  if (r == nullptr || !r->is_bool()) r = headers.Find("redelivered");
  if (r != nullptr && r->is_bool()) redelivered = *r;
  return Json::MakeObject({{"exchange", env.exchange},
                           {"routing_key", env.routing_key},
                           {"priority", env.priority},
                           {"redelivered", std::move(redelivered)}});
}

bool DecodeV2(const Json& doc, const Json& properties, Json& headers, TaskMessage* m,
              DecodeError* error) {
  const Json* id = headers.Find("id");
  if (id == nullptr || id->is_null()) id = properties.Find("correlation_id");
  if (!ReadIdentity(id, headers.Find("task"), m, error)) return false;
  if (!IsJsonContentType(doc, error)) return false;
  Json body;
  if (!DecodeBody(doc, properties, headers, &body, error)) return false;
  // Celery writes [args, kwargs, embed]; very old producers omitted embed.
  if (!body.is_array() || (body.size() != 2 && body.size() != 3)) {
    std::string got = body.python_type_name();
    if (body.is_array()) got += " of " + std::to_string(body.size());
    return Fail(error, Kind::kInvalidTask, "task body must be [args, kwargs, embed], got " + got);
  }
  Json::Array& parts = body.as_array();
  if (!CheckArgs(parts[0], parts[1], error)) return false;
  if (!NormalizeEmbed(parts.size() == 3 ? &parts[2] : nullptr, &m->embed, error)) return false;
  m->protocol = 2;
  m->args = std::move(parts[0]);
  m->kwargs = std::move(parts[1]);
  if (!ReadFields(headers, m, error)) return false;
  m->headers = std::move(headers);  // the envelope is the caller's to give up
  return true;
}

bool DecodeV1(const Json& doc, const Json& properties, Json& headers, TaskMessage* m,
              DecodeError* error) {
  // Everything lives in the body; only the correlation id can name the task before decoding.
  const Json* correlation = properties.Find("correlation_id");
  if (correlation != nullptr && correlation->is_string()) error->task_id = correlation->as_string();
  if (!IsJsonContentType(doc, error)) return false;
  Json body;
  if (!DecodeBody(doc, properties, headers, &body, error)) return false;
  if (!body.is_object() || body.Find("task") == nullptr) {
    return Fail(error, Kind::kInvalidTask, "unknown message");
  }
  const Json* id = body.Find("id");
  if (id == nullptr || id->is_null()) id = correlation;
  if (!ReadIdentity(id, body.Find("task"), m, error)) return false;
  // Celery's v1 -> v2 mapping: missing args/kwargs are empty, "taskset" is the group, there is
  // no chain, and the message headers override body fields.
  const Json* args = body.Find("args");
  const Json* kwargs = body.Find("kwargs");
  m->args = args != nullptr ? *args : Json(Json::Array{});
  m->kwargs = kwargs != nullptr ? *kwargs : Json(Json::Object{});
  if (!CheckArgs(m->args, m->kwargs, error)) return false;
  Json embed_raw = Json::MakeObject({{"callbacks", MemberOrNull(body, "callbacks")},
                                     {"errbacks", MemberOrNull(body, "errbacks")},
                                     {"chain", nullptr},
                                     {"chord", MemberOrNull(body, "chord")}});
  if (!NormalizeEmbed(&embed_raw, &m->embed, error)) return false;
  Json fields = body;
  if (const Json* taskset = body.Find("taskset"); taskset != nullptr && !taskset->is_null()) {
    fields.Set("group", *taskset);
  }
  for (const auto& [key, value] : headers.as_object()) fields.Set(key, value);
  m->protocol = 1;
  m->headers = headers;
  return ReadFields(fields, m, error);
}

}  // namespace

std::optional<Envelope> ParseEnvelope(std::string_view text, std::string* error) {
  std::string ignored;
  if (error == nullptr) error = &ignored;
  error->clear();
  try {
    Envelope env;
    env.doc = Json::Parse(text);
    if (!env.doc.is_object()) {
      *error =
          std::string("envelope is not a JSON object (got ") + env.doc.python_type_name() + ")";
      return std::nullopt;
    }
    Json* properties = env.doc.Find("properties");
    if (properties == nullptr) return env;
    env.delivery_tag = TakeLooseString(properties, "delivery_tag");  // nothing reads it there
    if (const Json* di = properties->Find("delivery_info"); di != nullptr) {
      env.exchange = LooseString(*di, "exchange");
      env.routing_key = LooseString(*di, "routing_key");
    }
    // kombu clamps to 0..9 and treats a non-integer priority as 0.
    if (const Json* p = properties->Find("priority"); p != nullptr && p->is_int()) {
      env.priority = static_cast<int>(std::clamp<int64_t>(p->as_int(), 0, 9));
    }
    return env;
  } catch (const std::exception& e) {
    *error = std::string("invalid envelope: ") + e.what();
    return std::nullopt;
  }
}

std::optional<TaskMessage> DecodeTaskMessage(Envelope&& env, DecodeError* error) {
  DecodeError ignored;
  if (error == nullptr) error = &ignored;
  *error = DecodeError{};
  TaskMessage m;
  // A message that fails after its id and name were read names them in the error.
  const auto named_failure = [&]() -> std::optional<TaskMessage> {
    if (!m.id.empty()) error->task_id = m.id;
    if (!m.task.empty()) error->task_name = m.task;
    return std::nullopt;
  };
  try {
    Json& doc = env.doc;
    if (!doc.is_object()) {
      Fail(error, Kind::kInvalidTask, "unknown message");
      return std::nullopt;
    }
    // Celery handles headers that are not a mapping as an "unknown message"; a missing or
    // null headers field is an empty mapping, which makes the message protocol v1.
    static const Json kEmpty(Json::Object{});  // read only, never copied into
    Json no_headers(Json::Object{});
    Json* h = doc.Find("headers");
    if (h == nullptr || h->is_null()) {
      h = &no_headers;
    } else if (!h->is_object()) {
      Fail(error, Kind::kInvalidTask, "unknown message");
      return std::nullopt;
    }
    Json& headers = *h;
    Json* p = doc.Find("properties");
    const Json& properties = p != nullptr && p->is_object() ? *p : kEmpty;
    // Read before the headers are moved into the message.
    m.delivery_info = DeliveryInfo(env, properties, headers);
    const bool ok = headers.Find("task") != nullptr ? DecodeV2(doc, properties, headers, &m, error)
                                                    : DecodeV1(doc, properties, headers, &m, error);
    if (!ok) return named_failure();
    DecodeTypeMarkers(m.args);
    DecodeTypeMarkers(m.kwargs);
    DecodeTypeMarkers(m.embed);
    if (&properties == p) {  // the document is ours: its last strings are moved, not copied
      m.reply_to = TakeLooseString(p, "reply_to");
      m.correlation_id = TakeLooseString(p, "correlation_id");
    }
    *error = DecodeError{};
    return m;
  } catch (const std::exception& e) {
    Fail(error, Kind::kDecodeError, e.what());
    return named_failure();
  }
}

std::optional<TaskMessage> DecodeTaskMessage(const Envelope& env, DecodeError* error) {
  Envelope copy = env;
  return DecodeTaskMessage(std::move(copy), error);
}

const char* DecodeError::exc_module() const {
  return kind == Kind::kInvalidTask ? "celery.exceptions" : "kombu.exceptions";
}

const char* DecodeError::exc_type() const {
  switch (kind) {
    case Kind::kContentDisallowed:
      return "ContentDisallowed";
    case Kind::kDecodeError:
      return "DecodeError";
    case Kind::kInvalidTask:
      return "InvalidTaskError";
  }
  return "DecodeError";
}

}  // namespace cw::protocol

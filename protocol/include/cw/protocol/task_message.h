// Decoding a task message: kombu's Redis envelope, then Celery's protocol v2 (or v1) body.
//
// Order of decoding, as a Python consumer does: parse the envelope -> base64-decode `body` ->
// decompress per headers.compression (zlib/gzip only) -> deserialise per content-type (JSON
// only: pickle, yaml and msgpack are refused, never executed) -> map v1 onto v2 fields.
// Nothing here does IO; a C++ producer can use it too.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include <cworker/json.h>

namespace cw::protocol {

/// The parts of kombu's envelope a consumer needs before it looks at the body.
struct Envelope {
  Json doc;                  ///< the whole envelope as parsed
  std::string delivery_tag;  ///< properties.delivery_tag (empty if missing)
  std::string exchange;      ///< properties.delivery_info.exchange
  std::string routing_key;   ///< properties.delivery_info.routing_key
  int priority = 0;          ///< properties.priority clamped to 0..9
};

/// Parses the envelope JSON. Returns nullopt (and fills `error`) when the text is not JSON or
/// not an object: such a payload has no delivery tag and cannot be acked or answered.
std::optional<Envelope> ParseEnvelope(std::string_view text, std::string* error);

/// A decoded task request (protocol v2 fields; v1 messages are mapped onto them).
struct TaskMessage {
  int protocol = 2;
  std::string id;
  std::string task;
  std::string shadow;
  Json args = Json::Array{};
  Json kwargs = Json::Object{};
  Json embed = Json::Object{};  ///< {"callbacks", "errbacks", "chain", "chord"}; nulls if absent
  std::string root_id;
  std::string parent_id;
  std::string group;
  std::optional<int64_t> group_index;
  int64_t retries = 0;
  std::string eta;      ///< ISO text, empty when null
  std::string expires;  ///< ISO text, empty when null
  std::optional<double> time_limit;       ///< timelimit[0]
  std::optional<double> soft_time_limit;  ///< timelimit[1]
  bool ignore_result = false;
  std::string argsrepr;
  std::string kwargsrepr;
  std::string origin;
  std::string reply_to;
  std::string correlation_id;
  Json headers = Json::Object{};  ///< v2 headers as received ({} for v1)
  Json delivery_info;  ///< {"exchange", "routing_key", "priority", "redelivered"}
};

/// Why a message could not become a TaskMessage. The worker maps each kind to Celery's
/// exception (kombu.exceptions.ContentDisallowed, kombu.exceptions.DecodeError,
/// celery.exceptions.InvalidTaskError) and, where `task_id` is known, stores a FAILURE.
struct DecodeError {
  enum class Kind { kContentDisallowed, kDecodeError, kInvalidTask };
  Kind kind = Kind::kDecodeError;
  std::string message;
  std::string task_id;    ///< empty when unknown
  std::string task_name;  ///< empty when unknown
  const char* exc_module() const;
  const char* exc_type() const;
};

/// Decodes the task carried by `env`. Returns the message, or nullopt with `error` filled.
/// The rvalue form moves the headers (and other parts) out of `env` instead of copying them:
/// its `doc` is left valid but unspecified; its tag, exchange, routing key and priority stay.
std::optional<TaskMessage> DecodeTaskMessage(Envelope&& env, DecodeError* error);
std::optional<TaskMessage> DecodeTaskMessage(const Envelope& env, DecodeError* error);

/// Replaces kombu >= 5.3 {"__type__": ..., "__value__": ...} markers, anywhere inside `value`,
/// by the plain values kombu 5.2 would have sent (datetime -> ISO text, decimal -> text,
/// uuid -> canonical text, bytes -> text, base64 -> decoded text).
void DecodeTypeMarkers(Json& value);

}  // namespace cw::protocol

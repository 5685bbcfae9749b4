// Encoding a task message as Celery 5.2 publishes it (protocol v2 in kombu's Redis envelope),
// for the messages a worker sends itself: retries now, canvas continuations later.
#pragma once

#include <string>
#include <string_view>

#include <cw/protocol/task_message.h>

namespace cw::protocol {

struct PublishTarget {
  std::string exchange;               ///< "" = the anonymous exchange (route by queue name)
  std::string routing_key = "celery";  ///< the queue, for the anonymous exchange
  int priority = 0;
  std::string delivery_tag;  ///< a fresh UUID per published message
};

/// The envelope text for `msg`: headers in Celery's order (plus the Celery >= 5.3 stamping
/// headers when `msg.headers` has them), body base64([args, kwargs, embed]) without compression,
/// properties with `target`'s delivery info. Python's json.dumps spelling throughout, so
/// decoding a captured message and encoding it again gives the captured bytes.
std::string EncodeTaskEnvelope(const TaskMessage& msg, const PublishTarget& target);

/// The envelope kombu wraps a transient message in (events, remote-control replies): `body`
/// (JSON text) base64-encoded, the given `headers`, delivery_mode 1, priority 0.
std::string EncodeTransientEnvelope(std::string_view body, Json headers,
                                    const std::string& exchange, const std::string& routing_key,
                                    const std::string& delivery_tag);

}  // namespace cw::protocol

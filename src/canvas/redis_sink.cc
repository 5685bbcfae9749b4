#include "canvas/redis_sink.h"

#include <stdexcept>
#include <string>

#include <cw/protocol/keys.h>

namespace cw::canvas {

void RedisSink::Publish(const Route& route, int priority, const std::string& envelope) {
  transport_->PublishRouted(route.exchange, route.routing_key, priority, envelope);
}

void RedisSink::SetChordSize(const std::string& group_id, int64_t size) {
  if (backend_ == nullptr) {
    throw std::runtime_error("a chord needs a result backend (--result-backend)");
  }
  backend_->SetAndPublish(protocol::TasksetMetaKey(group_id, ".s"), std::to_string(size));
}

}  // namespace cw::canvas

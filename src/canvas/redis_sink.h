// The worker's MessageSink: task messages through kombu's Redis transport, chord sizes into
// the Redis result backend.
#pragma once

#include "backend/redis_backend.h"
#include "broker/redis_transport.h"
#include "canvas/applier.h"

namespace cw::canvas {

class RedisSink : public MessageSink {
 public:
  /// `backend` may be null (results disabled): applying a chord then throws.
  RedisSink(broker::RedisTransport* transport, backend::RedisBackend* backend)
      : transport_(transport), backend_(backend) {}

  void Publish(const Route& route, int priority, const std::string& envelope) override;
  void SetChordSize(const std::string& group_id, int64_t size) override;

 private:
  broker::RedisTransport* transport_;
  backend::RedisBackend* backend_;
};

}  // namespace cw::canvas

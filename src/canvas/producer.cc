#include "canvas/producer.h"

#include <atomic>
#include <chrono>
#include <stdexcept>
#include <thread>

#include <cw/protocol/keys.h>

#include "backend/redis_backend.h"
#include "broker/redis_transport.h"
#include "canvas/applier.h"
#include "canvas/redis_sink.h"
#include "util/hostname.h"
#include "util/uuid.h"

#include <unistd.h>

namespace cw::canvas {
namespace {

redis::Url ParseUrl(const std::string& text) {
  std::string error;
  auto url = redis::Url::Parse(text, &error);
  if (!url) throw std::invalid_argument(error);
  return *url;
}

}  // namespace

struct Producer::Impl {
  explicit Impl(const Options& o)
      : transport(ParseUrl(o.broker), {}, &never, &never),
        backend(o.backend.empty() ? nullptr
                                  : std::make_unique<backend::RedisBackend>(
                                        ParseUrl(o.backend), o.result_expires, &never)),
        sink(&transport, backend.get()),
        applier(&sink, Router(o.routes, o.default_queue),
                "gen" + std::to_string(getpid()) + "@" + util::Hostname(), util::Uuid4()) {}

  std::atomic<bool> never{false};
  broker::RedisTransport transport;
  std::unique_ptr<backend::RedisBackend> backend;
  RedisSink sink;
  Applier applier;
};

Producer::Producer(Options options) : impl_(std::make_unique<Impl>(options)) {}
Producer::~Producer() = default;

std::string Producer::Send(const Signature& sig) {
  const std::string id = impl_->applier.Apply(sig, nullptr);
  impl_->applier.TakeChildren();
  return id;
}

Json Producer::Wait(const std::string& task_id, double timeout_s) {
  if (!impl_->backend) throw std::runtime_error("Wait needs a result backend");
  const auto deadline = std::chrono::steady_clock::now() +
                        std::chrono::duration_cast<std::chrono::steady_clock::duration>(
                            std::chrono::duration<double>(timeout_s));
  for (;;) {
    if (const auto text = impl_->backend->Get(protocol::TaskMetaKey(task_id))) {
      Json record = Json::Parse(*text);
      const Json* status = record.Find("status");
      if (status != nullptr && status->is_string() &&
          (status->as_string() == "SUCCESS" || status->as_string() == "FAILURE" ||
           status->as_string() == "REVOKED")) {
        return record;
      }
    }
    if (std::chrono::steady_clock::now() >= deadline) {
      throw std::runtime_error("no result for " + task_id + " within the timeout");
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
}

}  // namespace cw::canvas

// Celery's Redis result backend, writer side: state records in "celery-task-meta-<id>",
// PUBLISHed on the key's channel so a waiting AsyncResult.get() wakes at once.
#pragma once

#include <atomic>
#include <stdexcept>
#include <string>

#include <cw/protocol/result_meta.h>

#include "redis/connection.h"

namespace cw::backend {

/// Redis answered the write with an error reply.
class StoreError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

class RedisBackend {
 public:
  /// `result_expires` seconds (0 = never expire), Celery's result_expires.
  RedisBackend(redis::Url url, int result_expires, const std::atomic<bool>* stop);

  const redis::Url& url() const { return conn_.url(); }

  /// Stores `meta` unless the stored state is already SUCCESS (Celery's rule: a duplicate
  /// execution never overwrites a success). Retries while Redis is unreachable; throws
  /// StoreError when Redis refuses the write. Returns false when
  /// the write was skipped because of that rule.
  bool Store(const protocol::ResultMeta& meta);

 private:
  redis::Connection conn_;
  int result_expires_;
  const std::atomic<bool>* stop_;
};

}  // namespace cw::backend

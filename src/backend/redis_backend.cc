// Celery's RedisBackend.set does GET (to keep SUCCESS sticky), then MULTI {SETEX; PUBLISH}.
// One server-side script does the same check and both writes atomically in one round trip:
// same keys, same bytes stored and published.
#include "backend/redis_backend.h"

#include <cw/protocol/keys.h>

namespace cw::backend {
namespace {

// KEYS[1] = result key; ARGV[1] = record; ARGV[2] = expiry seconds (0 = none).
// A stored record is SUCCESS when its "status" field says so. cjson reads standard JSON; a
// record it cannot read (Python may have written NaN) is checked by text, as Celery writes
// "status" first.
const redis::Script kStoreScript(R"lua(
local current = redis.call('GET', KEYS[1])
if current then
  local ok, doc = pcall(cjson.decode, current)
  if ok and type(doc) == 'table' then
    if doc['status'] == 'SUCCESS' then return 0 end
  elseif string.find(current, '"status": "SUCCESS"', 1, true) then
    return 0
  end
end
local ttl = tonumber(ARGV[2])
if ttl and ttl > 0 then
  redis.call('SETEX', KEYS[1], ttl, ARGV[1])
else
  redis.call('SET', KEYS[1], ARGV[1])
end
redis.call('PUBLISH', KEYS[1], ARGV[1])
return 1
)lua");

}  // namespace

RedisBackend::RedisBackend(redis::Url url, int result_expires, const std::atomic<bool>* stop)
    : conn_(std::move(url), "backend"), result_expires_(result_expires), stop_(stop) {}

bool RedisBackend::Store(const protocol::ResultMeta& meta) {
  const std::string key = protocol::TaskMetaKey(meta.task_id);
  const std::string record = protocol::EncodeResultMeta(meta);
  const std::string ttl = std::to_string(result_expires_);
  const redis::Reply r = conn_.Retrying(
      [&](redis::Connection& c) { return c.Eval(kStoreScript, {key}, {record, ttl}); }, stop_);
  // An error reply (OOM, a read-only replica) is Redis refusing, not a lost connection.
  if (r.is_error()) throw StoreError("storing " + key + " failed: " + std::string(r.str()));
  return r.integer() == 1;
}

}  // namespace cw::backend

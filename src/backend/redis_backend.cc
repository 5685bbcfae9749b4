// Celery's RedisBackend.set does GET (to keep SUCCESS sticky), then MULTI {SETEX; PUBLISH}.
// One server-side script does the same check and both writes atomically in one round trip:
// same keys, same bytes stored and published.
#include "backend/redis_backend.h"

#include <cw/protocol/keys.h>

#include "store_result.lua.h"
#include "util/scratch_string.h"

namespace cw::backend {
namespace {

// KEYS[1] = result key; ARGV[1] = record; ARGV[2] = expiry seconds (see store_result.lua).
const redis::Script kStoreScript(kLua_store_result);

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

void RedisBackend::StoreBehind(const protocol::ResultMeta& meta) {
  // One record per task: the key and the record are built in lent buffers, and the command
  // keeps its own copy of the bytes, so nothing here allocates in the steady state.
  util::ScratchString key;
  key->append(protocol::kTaskMetaPrefix);
  key->append(meta.task_id);
  util::ScratchString record;
  protocol::AppendResultMeta(meta, record.get());
  const std::string ttl = std::to_string(result_expires_);  // short: kept inline
  // The first call loads the script synchronously; a connection error there is retried.
  conn_.Retrying(
      [&](redis::Connection& c) {
        c.DeferEval(kStoreScript, {*key}, {*record, ttl});
        return 0;
      },
      stop_);
}

void RedisBackend::Flush() { conn_.Flush(stop_); }

}  // namespace cw::backend

namespace cw::backend {

void RedisBackend::SetAndPublish(const std::string& key, const std::string& value) {
  const std::string ttl = std::to_string(result_expires_);
  const std::vector<redis::Reply> replies = conn_.Retrying(
      [&](redis::Connection& c) {
        if (result_expires_ > 0) {
          return c.Pipeline({{"MULTI"}, {"SETEX", key, ttl, value}, {"PUBLISH", key, value},
                             {"EXEC"}});
        }
        return c.Pipeline({{"MULTI"}, {"SET", key, value}, {"PUBLISH", key, value}, {"EXEC"}});
      },
      stop_);
  if (replies.back().is_error() || replies.back().is_nil()) {
    throw StoreError("storing " + key + " failed: " + std::string(replies.back().str()));
  }
}

RedisBackend::ChordCount RedisBackend::ChordPartReturn(const std::string& gid,
                                                       std::optional<int64_t> group_index,
                                                       const std::string& member) {
  const std::string jkey = protocol::TasksetMetaKey(gid, ".j");
  const std::string tkey = protocol::TasksetMetaKey(gid, ".t");
  const std::string skey = protocol::TasksetMetaKey(gid, ".s");
  const std::string score = group_index ? std::to_string(*group_index) : "+inf";
  const std::string ttl = std::to_string(result_expires_);
  std::vector<std::vector<std::string_view>> cmds = {
      {"MULTI"}, {"ZADD", jkey, score, member}, {"ZCOUNT", jkey, "-inf", "+inf"},
      {"GET", tkey}, {"GET", skey}};
  if (result_expires_ > 0) {
    cmds.push_back({"EXPIRE", jkey, ttl});
    cmds.push_back({"EXPIRE", tkey, ttl});
    cmds.push_back({"EXPIRE", skey, ttl});
  }
  cmds.push_back({"EXEC"});
  const std::vector<redis::Reply> replies =
      conn_.Retrying([&](redis::Connection& c) { return c.Pipeline(cmds); }, stop_);
  const redis::Reply& exec = replies.back();
  if (!exec.is_array() || exec.size() < 4) {
    throw StoreError("chord part of " + gid + " failed: " + std::string(exec.str()));
  }
  ChordCount count;
  count.ready = exec.at(1).integer();
  const redis::Reply extra = exec.at(2);
  const redis::Reply size = exec.at(3);
  if (!size.is_nil()) {
    long long total = std::stoll(std::string(size.str()));
    if (!extra.is_nil()) total += std::stoll(std::string(extra.str()));
    count.total = total;
  }
  return count;
}

std::vector<std::string> RedisBackend::ChordMembers(const std::string& gid) {
  const std::string jkey = protocol::TasksetMetaKey(gid, ".j");
  const redis::Reply r =
      conn_.Retrying([&](redis::Connection& c) { return c.Call({"ZRANGE", jkey, "0", "-1"}); },
                     stop_);
  std::vector<std::string> out;
  for (size_t i = 0; r.is_array() && i < r.size(); ++i) out.emplace_back(r.at(i).str());
  return out;
}

void RedisBackend::DeleteChordKeys(const std::string& gid) {
  const std::string j = protocol::TasksetMetaKey(gid, ".j");
  const std::string t = protocol::TasksetMetaKey(gid, ".t");
  const std::string s = protocol::TasksetMetaKey(gid, ".s");
  conn_.Retrying(
      [&](redis::Connection& c) {
        return c.Pipeline({{"MULTI"}, {"DEL", j}, {"DEL", t}, {"DEL", s}, {"EXEC"}});
      },
      stop_);
}

std::optional<std::string> RedisBackend::Get(const std::string& key) {
  const redis::Reply r =
      conn_.Retrying([&](redis::Connection& c) { return c.Call({"GET", key}); }, stop_);
  if (r.is_nil() || !r.is_string()) return std::nullopt;
  return std::string(r.str());
}

}  // namespace cw::backend

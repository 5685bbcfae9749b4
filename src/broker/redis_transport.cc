// The consumer half of kombu's Redis transport (kombu/transport/redis.py in Python), rewritten
// against a blocking redis::Connection:
//   Declare    -> SADD of the binding rows, as queue_declare/queue_bind do
//   FetchBatch -> one script pops up to k queued messages in kombu's key order (queue x
//                 priority, round robin) and records each in unacked/unacked_index in the same
//                 step, so a crash can never leave a popped message recorded nowhere (kombu's
//                 BRPOP-then-MULTI window, L1 of the protocol reference).
//                 When the queues are empty it waits without popping: the fetch connection
//                 reads the queue keys (EXISTS) under CLIENT TRACKING redirected to a subscriber
//                 connection, and Redis publishes an invalidation on __redis__:invalidate the
//                 moment any client pushes to one of them; then the script pops again. An idle
//                 worker wakes within a millisecond, burns no CPU, and still never holds a
//                 message Redis does not know it holds. (Redis < 6, or an ACL that forbids
//                 tracking: it blocks in BRPOP as kombu does, with kombu's window.)
//   Fetch      -> BRPOP over the same keys, then MULTI {ZADD unacked_index; HSET unacked}
//   Ack        -> ZREM unacked_index; HDEL unacked (write-behind, see Ack)
//   Restore    -> WATCH unacked; HGET; MULTI {ZREM; HDEL; RPUSH|LPUSH}
#include "broker/redis_transport.h"

#include <algorithm>
#include <chrono>
#include <cmath>

#include <spdlog/spdlog.h>

#include <cw/protocol/keys.h>
#include <cw/protocol/task_message.h>
#include <cworker/json.h>

#include "green/waits.h"
#include "pop_batch.lua.h"
#include "redis/key_prefix.h"
#include "util/uuid.h"

namespace cw::broker {
namespace p = cw::protocol;

namespace {

// KEYS: unacked_index, unacked, then the queue keys in BRPOP's order (see pop_batch.lua).
const redis::Script kPopBatchScript(kLua_pop_batch);

// kombu's unacked_mutex_expire: a restorer that died holding the lock frees it after this.
constexpr int kUnackedMutexExpireSeconds = 300;

// Where Redis sends the client-side caching invalidations of a RESP2 connection's tracked keys.
constexpr std::string_view kInvalidationChannel = "__redis__:invalidate";

}  // namespace

RedisTransport::RedisTransport(redis::Url url, std::vector<std::string> queues,
                               const std::atomic<bool>* fetch_stop,
                               const std::atomic<bool>* hard_stop)
    : conn_(url, "broker"),
      fetch_conn_(url, "broker"),
      wake_conn_(std::move(url), "broker"),
      queues_(std::move(queues)),
      cycle_(queues_),
      fetch_stop_(fetch_stop),
      hard_stop_(hard_stop) {
  fetch_conn_.track_client_id();
  wake_conn_.track_client_id();
  wake_conn_.set_sync_only();
}

void RedisTransport::KillClient(long long client_id) {
  if (client_id < 0) return;
  conn_.Call({"CLIENT", "KILL", "ID", std::to_string(client_id)});
}

void RedisTransport::Declare() {
  conn_.Retrying(
      [&](redis::Connection& c) {
        c.Connect();
        for (const std::string& q : queues_) {
          const std::string key = p::BindingKey(q);
          const std::string row = p::BindingRow(q, "", q);
          c.Call({"SADD", key, row});
        }
        return 0;
      },
      fetch_stop_);
}

void RedisTransport::SetQueues(std::vector<std::string> queues) {
  std::vector<std::string> added;
  for (const std::string& q : queues) {
    if (std::find(queues_.begin(), queues_.end(), q) == queues_.end()) added.push_back(q);
  }
  queues_ = std::move(queues);
  cycle_ = queues_;
  for (const std::string& q : added) {
    conn_.CallRetrying({"SADD", p::BindingKey(q), p::BindingRow(q, "", q)}, fetch_stop_);
  }
}

std::vector<std::string> RedisTransport::BrpopKeys() const {
  std::vector<std::string> keys;
  for (int step : p::kPrioritySteps) {
    for (const std::string& q : cycle_) keys.push_back(p::QueueKey(q, step));
  }
  return keys;
}

std::vector<Delivery> RedisTransport::FetchBatch(size_t max, double timeout_s) {
  std::vector<Delivery> batch;
  if (queues_.empty() || max == 0) {
    if (auto d = Fetch(timeout_s)) batch.push_back(std::move(*d));
    return batch;
  }
  const auto deadline = std::chrono::steady_clock::now() +
                        std::chrono::duration_cast<std::chrono::steady_clock::duration>(
                            std::chrono::duration<double>(std::max(0.001, timeout_s)));
  for (;;) {
    // Checked before every pop: at a cold shutdown the signal thread restores what this worker
    // held, which wakes this wait; popping those messages again would leave them in unacked.
    if (fetch_stop_ != nullptr && fetch_stop_->load()) return batch;
    const std::vector<std::string> keys = BrpopKeys();
    batch = PopQueued(max, keys);
    if (!batch.empty()) return batch;
    const double remaining =
        std::chrono::duration<double>(deadline - std::chrono::steady_clock::now()).count();
    if (remaining <= 0) return batch;
    if (idle_mode_.load() == IdleMode::kBrpop) {
      // No CLIENT TRACKING: block in BRPOP (one message, recorded just after, as kombu does).
      if (auto d = Fetch(remaining)) batch.push_back(std::move(*d));
      return batch;
    }
    if (!WaitForPush(keys, remaining)) return batch;  // quiet until the deadline
  }
}

std::vector<Delivery> RedisTransport::PopQueuedNow(size_t max) {
  if (queues_.empty() || max == 0 || (fetch_stop_ != nullptr && fetch_stop_->load())) return {};
  return PopQueued(max, BrpopKeys());
}

std::vector<Delivery> RedisTransport::PopQueued(size_t max, const std::vector<std::string>& keys) {
  std::vector<Delivery> batch;
  std::vector<std::string_view> key_args = {p::kUnackedIndexKey, p::kUnackedKey};
  key_args.insert(key_args.end(), keys.begin(), keys.end());
  const double now =
      std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
  const std::string count = std::to_string(max);
  const std::string score = fmt::format("{:.6f}", now);
  std::vector<std::string> queue_names;
  queue_names.reserve(keys.size());
  for (const std::string& key : keys) queue_names.emplace_back(p::QueueOfKey(key));
  std::vector<std::string_view> argv = {count, score};
  argv.insert(argv.end(), queue_names.begin(), queue_names.end());
  const redis::Reply reply = fetch_conn_.Retrying(
      [&](redis::Connection& c) { return c.Eval(kPopBatchScript, key_args, argv); }, fetch_stop_);
  if (reply.is_error()) {
    // (A queue key of another type, say.) Not a reason to spin: wait as an empty fetch does.
    spdlog::error("Fetching a batch failed: {}", reply.str());
    green::SleepFor(std::chrono::milliseconds(500));
    return batch;
  }
  batch.reserve(reply.size() / 3);
  for (size_t i = 0; reply.is_array() && i + 2 < reply.size(); i += 3) {
    const long long index = reply.at(i).integer() - 1;
    Delivery d;
    d.queue = index >= 0 && static_cast<size_t>(index) < queue_names.size()
                  ? queue_names[static_cast<size_t>(index)]
                  : queues_.front();
    d.payload = std::string(reply.at(i + 1).str());
    Complete(d, reply.at(i + 2).str());
    batch.push_back(std::move(d));
  }
  if (!batch.empty()) Rotate(batch.back().queue);
  return batch;
}

bool RedisTransport::WaitForPush(const std::vector<std::string>& keys, double timeout_s) {
  const auto timeout = std::chrono::milliseconds(
      std::max<long long>(1, static_cast<long long>(std::ceil(timeout_s * 1000))));
  try {
    if (!wake_conn_.connected()) {
      wake_conn_.Connect();
      const redis::Reply r = wake_conn_.Call({"SUBSCRIBE", kInvalidationChannel});
      if (r.is_error()) return FallBackToBrpop(r.str());
    }
    const long long target = wake_conn_.client_id();
    fetch_conn_.Connect();
    if (fetch_conn_.connects() != tracking_connects_ || target != tracking_target_) {
      // NOLOOP: our own pops do not wake us; pushes by anyone else (restores included) do.
      const std::string redirect = std::to_string(target);
      const redis::Reply r =
          fetch_conn_.Call({"CLIENT", "TRACKING", "ON", "REDIRECT", redirect, "NOLOOP"});
      if (r.is_error()) {
        if (r.str().find("does not exist") != std::string_view::npos) {
          wake_conn_.Close();  // it went away meanwhile: subscribe again next round
          return true;
        }
        return FallBackToBrpop(r.str());
      }
      tracking_connects_ = fetch_conn_.connects();
      tracking_target_ = target;
      idle_mode_.store(IdleMode::kTracking);
    }
    // Reading the keys arms their tracking (again: an invalidation disarms a key); a message
    // pushed after the pop and before this read is seen here instead.
    std::vector<std::string_view> argv = {"EXISTS"};
    argv.insert(argv.end(), keys.begin(), keys.end());
    const redis::Reply queued = fetch_conn_.Call(argv);
    if (queued.is_integer() && queued.integer() > 0) return true;
    if (!wake_conn_.WaitReadable(timeout)) return false;
    wake_conn_.ReadNext();  // the invalidation: some queue key changed
    return true;
  } catch (const redis::ConnectionError& e) {
    // Redis went away (or the wake connection was killed at shutdown): the pop that follows
    // reconnects with backoff or sees the stop flag. A short pause keeps this from spinning.
    wake_conn_.Close();
    spdlog::debug("Idle wait interrupted: {}", e.what());
    green::SleepFor(std::chrono::milliseconds(std::min<long long>(timeout.count(), 50)));
    return true;
  }
}

bool RedisTransport::FallBackToBrpop(std::string_view why) {
  spdlog::warn("Redis refused client-side tracking ({}): an idle worker blocks in BRPOP, and a "
               "message it pops is recorded in unacked just after, as kombu does",
               why);
  idle_mode_.store(IdleMode::kBrpop);
  wake_conn_.Close();
  return true;
}

void RedisTransport::Rotate(const std::string& queue) {
  // kombu's round robin: the queue that just delivered goes to the end of the cycle.
  if (auto it = std::find(cycle_.begin(), cycle_.end(), queue); it != cycle_.end()) {
    std::rotate(it, it + 1, cycle_.end());
  }
}

void RedisTransport::Complete(Delivery& d, std::string_view recorded_tag) {
  std::string error;
  std::optional<p::Envelope> env = p::ParseEnvelope(d.payload, &error);
  if (!env) {
    d.error = error;
    // Not a message (the worker drops it): no tag to record it under, and if the script's
    // looser reading recorded one, that entry goes too.
    if (!recorded_tag.empty()) Ack(std::string(recorded_tag));
    return;
  }
  d.envelope_ok = true;
  d.tag = std::move(env->delivery_tag);  // the envelope's copy is not read again
  d.envelope = std::move(*env);
  if (!recorded_tag.empty()) {
    if (d.tag == recorded_tag) return;  // the pop script recorded it
    Ack(std::string(recorded_tag));  // read differently here (odd bytes): recorded again below
  }
  if (d.tag.empty()) {
    // kombu would fail on such a message; give it a tag so it can be acked and restored.
    d.tag = util::Uuid4();
    Json* props = d.envelope.doc.Find("properties");
    if (props == nullptr || !props->is_object()) {
      props = &d.envelope.doc.Set("properties", Json::Object{});
    }
    props->Set("delivery_tag", d.tag);
    d.envelope.delivery_tag = d.tag;
    d.payload = d.envelope.doc.Dump();
  }
  Register(d, d.envelope.exchange,
           d.envelope.routing_key.empty() ? d.queue : d.envelope.routing_key);
}

std::optional<Delivery> RedisTransport::Fetch(double timeout_s) {
  if (queues_.empty()) {  // every queue cancelled: nothing to wait for but time
    green::SleepFor(std::chrono::duration<double>(std::max(0.001, timeout_s)));
    return std::nullopt;
  }
  const std::vector<std::string> keys = BrpopKeys();
  std::vector<std::string_view> argv = {"BRPOP"};
  argv.insert(argv.end(), keys.begin(), keys.end());
  // Redis >= 6 takes a fractional timeout; 0 would mean "forever".
  const std::string timeout = fmt::format("{:.3f}", std::max(0.001, timeout_s));
  argv.push_back(timeout);
  const redis::Reply reply = fetch_conn_.CallRetrying(argv, fetch_stop_);
  if (reply.is_nil() || !reply.is_array() || reply.size() != 2) {
    if (reply.is_error()) spdlog::error("BRPOP failed: {}", reply.str());
    return std::nullopt;
  }
  Delivery d;
  d.queue = std::string(p::QueueOfKey(redis::StripPrefix(reply.at(0).str(), url().key_prefix)));
  d.payload = std::string(reply.at(1).str());
  Rotate(d.queue);
  Complete(d, "");
  return d;
}

void RedisTransport::Register(Delivery& d, const std::string& exchange,
                              const std::string& routing_key) {
  const double now =
      std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
  const std::string score = fmt::format("{:.6f}", now);
  // kombu stores [message, exchange, routing_key]; the payload is JSON text already.
  const std::string entry =
      "[" + d.payload + ", " + Json(exchange).Dump() + ", " + Json(routing_key).Dump() + "]";
  conn_.Retrying(
      [&](redis::Connection& c) {
        return c.Pipeline({{"MULTI"},
                           {"ZADD", p::kUnackedIndexKey, score, d.tag},
                           {"HSET", p::kUnackedKey, d.tag, entry},
                           {"EXEC"}});
      },
      hard_stop_);
}

void RedisTransport::Ack(const std::string& tag) {
  // Written now, its replies read later (write-behind): no round trip per task. Both removes
  // are idempotent, so a resend after a reconnect is harmless; kombu's MULTI around them
  // would not survive a resend cut between MULTI and EXEC, and nothing reads the two apart.
  conn_.Retrying(  // (only a fiber's Defer can throw: it waits for its replies)
      [&](redis::Connection& c) {
        c.Defer({{"ZREM", p::kUnackedIndexKey, tag}, {"HDEL", p::kUnackedKey, tag}});
        return 0;
      },
      hard_stop_);
}

void RedisTransport::Flush() { conn_.Flush(hard_stop_); }

void RedisTransport::Publish(const std::string& queue, int priority, const std::string& payload) {
  const std::string key = p::QueueKey(queue, priority);
  conn_.Retrying([&](redis::Connection& c) { return c.Call({"LPUSH", key, payload}); },
                 hard_stop_);
}

std::vector<std::string> RedisTransport::PublishRouted(const std::string& exchange,
                                                      const std::string& routing_key,
                                                      int priority, const std::string& payload) {
  std::vector<std::string> queues;
  if (!exchange.empty()) {
    const std::string key = p::BindingKey(exchange);
    const redis::Reply rows = conn_.Retrying(
        [&](redis::Connection& c) { return c.Call({"SMEMBERS", key}); }, hard_stop_);
    const std::string sep(p::kPrioritySep);
    for (size_t i = 0; rows.is_array() && i < rows.size(); ++i) {
      const std::string row(rows.at(i).str());
      const size_t a = row.find(sep);
      const size_t b = a == std::string::npos ? a : row.find(sep, a + sep.size());
      if (b == std::string::npos) continue;
      if (row.compare(0, a, routing_key) != 0 || a != routing_key.size()) continue;
      std::string queue = row.substr(b + sep.size());
      if (std::find(queues.begin(), queues.end(), queue) == queues.end()) {
        queues.push_back(std::move(queue));
      }
    }
    if (queues.empty()) {
      spdlog::warn("No queue is bound to exchange '{}' with routing key '{}'; publishing to "
                   "queue '{}'",
                   exchange, routing_key, routing_key);
    }
  }
  if (queues.empty()) queues.push_back(routing_key);
  for (const std::string& q : queues) Publish(q, priority, payload);
  return queues;
}

long long RedisTransport::ExtendLeases(const std::vector<std::string>& tags) {
  if (tags.empty()) return 0;
  const double now =
      std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
  const std::string score = fmt::format("{:.6f}", now);
  // XX: a tag acked or restored meanwhile is not brought back. CH: count the updated ones.
  std::vector<std::string_view> argv = {"ZADD", p::kUnackedIndexKey, "XX", "CH"};
  argv.reserve(4 + 2 * tags.size());
  for (const std::string& tag : tags) {
    argv.push_back(score);
    argv.push_back(tag);
  }
  const redis::Reply r = conn_.CallRetrying(argv, hard_stop_);
  if (r.is_error()) spdlog::error("Extending the leases of held messages failed: {}", r.str());
  return r.is_integer() ? r.integer() : 0;
}

int RedisTransport::RestoreVisible(double visibility_timeout_s) {
  // The lock is redis-py's (kombu's Mutex): SET NX with an expiry, released only by its owner.
  static const redis::Script kRelease(
      "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end "
      "return 0");
  const std::string token = util::Uuid4();
  const std::string expire_ms = std::to_string(kUnackedMutexExpireSeconds * 1000);
  const redis::Reply locked = conn_.CallRetrying(
      {"SET", p::kUnackedMutexKey, token, "NX", "PX", expire_ms}, hard_stop_);
  if (!locked.is_string()) return 0;  // another worker is restoring right now
  auto release = [&] {
    conn_.Retrying(
        [&](redis::Connection& c) { return c.Eval(kRelease, {p::kUnackedMutexKey}, {token}); },
        hard_stop_);
  };
  int restored = 0;
  try {
    const double now =
        std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch())
            .count();
    const std::string ceil = fmt::format("{:.6f}", now - visibility_timeout_s);
    const redis::Reply visible = conn_.CallRetrying(
        {"ZREVRANGEBYSCORE", p::kUnackedIndexKey, ceil, "0"}, hard_stop_);
    for (size_t i = 0; visible.is_array() && i < visible.size(); ++i) {
      if (Restore(std::string(visible.at(i).str()), false)) ++restored;
    }
  } catch (...) {
    release();
    throw;
  }
  release();
  return restored;
}

bool RedisTransport::Restore(const std::string& tag, bool leftmost) {
  return conn_.Retrying(
      [&](redis::Connection& c) {
        for (int attempt = 0; attempt < 10; ++attempt) {
          c.Call({"WATCH", p::kUnackedKey});
          const redis::Reply stored = c.Call({"HGET", p::kUnackedKey, tag});
          if (stored.is_nil() || !stored.is_string()) {
            c.Call({"UNWATCH"});
            c.Pipeline({{"MULTI"},
                        {"ZREM", p::kUnackedIndexKey, tag},
                        {"HDEL", p::kUnackedKey, tag},
                        {"EXEC"}});
            return false;
          }
          std::string payload;
          std::string queue_key;
          try {
            const Json entry = Json::Parse(stored.str());
            Json env = entry.At(size_t{0});
            const std::string routing_key =
                entry.size() > 2 && entry.At(size_t{2}).is_string() ? entry.At(size_t{2}).as_string()
                                                                     : std::string(p::kDefaultQueue);
            // Mark it redelivered where kombu does: a header and the delivery_info flag.
            Json* headers = env.Find("headers");
            if (headers != nullptr && headers->is_object()) headers->Set("redelivered", true);
            int priority = 0;
            if (Json* props = env.Find("properties"); props != nullptr && props->is_object()) {
              if (Json* di = props->Find("delivery_info"); di != nullptr && di->is_object()) {
                di->Set("redelivered", true);
              }
              if (const Json* pr = props->Find("priority"); pr != nullptr && pr->is_int()) {
                priority = static_cast<int>(pr->as_int());
              }
            }
            payload = env.Dump();
            // The anonymous exchange routes by queue name; kombu >= 5.4 keeps the priority.
            queue_key = p::QueueKey(routing_key, priority);
          } catch (const JsonError& e) {
            spdlog::error("Cannot restore message {}: unreadable unacked entry ({})", tag, e.what());
            c.Call({"UNWATCH"});
            return false;
          }
          const auto replies = c.Pipeline({{"MULTI"},
                                           {"ZREM", p::kUnackedIndexKey, tag},
                                           {"HDEL", p::kUnackedKey, tag},
                                           {leftmost ? "LPUSH" : "RPUSH", queue_key, payload},
                                           {"EXEC"}});
          if (!replies.back().is_nil()) return true;  // EXEC nil: `unacked` changed, try again
        }
        spdlog::error("Cannot restore message {}: unacked kept changing", tag);
        return false;
      },
      hard_stop_);
}

}  // namespace cw::broker

// cw::redis::Command: a task's Redis calls on redis::Connection, which picks the engine: the
// async one on the scheduler's loop in a green fiber, the blocking one elsewhere. Connections
// are kept per URL, per scheduler (green) or per thread (blocking).
#include <cworker/errors.h>
#include <cworker/io.h>
#include <cworker/redis.h>

#include <map>
#include <memory>
#include <mutex>

#include "green/scheduler.h"
#include "redis/connection.h"

namespace cw::redis {
namespace {

std::mutex g_default_mutex;
std::string g_default_url;  // guarded by g_default_mutex

std::string ResolveUrl(const std::string& url) {
  if (!url.empty()) return url;
  std::lock_guard lock(g_default_mutex);
  if (!g_default_url.empty()) return g_default_url;
  return GetEnv("CELERY_BROKER_URL", "redis://localhost:6379/0");
}

Connection& ConnectionFor(const std::string& text) {
  std::string error;
  std::optional<Url> url = Url::Parse(text, &error);
  if (!url) throw TaskError("redis.exceptions", "ConnectionError", "bad Redis URL: " + error);
  if (green::Scheduler* s = green::Scheduler::Current(); s != nullptr && green::CurrentFiber()) {
    const std::string key = "cw.redis.task." + text;
    if (auto existing = s->Local(key)) return *static_cast<Connection*>(existing.get());
    auto conn = std::make_shared<Connection>(*url, "task");
    s->SetLocal(key, conn);
    return *conn;
  }
  thread_local std::map<std::string, std::unique_ptr<Connection>> per_thread;
  auto& slot = per_thread[text];
  if (!slot) slot = std::make_unique<Connection>(*url, "task");
  return *slot;
}

Json ToJson(const Reply& r) {
  if (r.is_error()) throw TaskError("redis.exceptions", "ResponseError", std::string(r.str()));
  if (r.is_integer()) return Json(static_cast<int64_t>(r.integer()));
  if (r.is_string()) return Json(std::string(r.str()));
  if (r.is_array()) {
    Json::Array items;
    items.reserve(r.size());
    for (size_t i = 0; i < r.size(); ++i) items.push_back(ToJson(r.at(i)));
    return Json(std::move(items));
  }
  return Json();
}

}  // namespace

void SetDefaultUrl(const std::string& url) {
  std::lock_guard lock(g_default_mutex);
  g_default_url = url;
}

Json Command(const std::vector<std::string>& argv, const std::string& url) {
  Connection& conn = ConnectionFor(ResolveUrl(url));
  std::vector<std::string_view> args(argv.begin(), argv.end());
  Reply reply;
  try {
    reply = conn.Call(args);
  } catch (const ConnectionError& e) {
    throw TaskError("redis.exceptions", "ConnectionError", e.what());
  }
  return ToJson(reply);
}

}  // namespace cw::redis

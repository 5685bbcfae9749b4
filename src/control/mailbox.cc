#include "control/mailbox.h"

#include <fnmatch.h>

#include <chrono>

#include <spdlog/spdlog.h>

#include <cw/protocol/base64.h>
#include <cw/protocol/keys.h>
#include <cw/protocol/task_encode.h>

#include "redis/connection.h"
#include "util/uuid.h"

namespace cw::control {
namespace {

constexpr std::string_view kMailboxExchange = "celery.pidbox";
constexpr std::string_view kReplyExchange = "reply.celery.pidbox";

std::string StringOr(const Json* v) { return v != nullptr && v->is_string() ? v->as_string() : ""; }

}  // namespace

std::optional<ControlRequest> DecodeRequest(const std::string& envelope, std::string* error) {
  try {
    const Json env = Json::Parse(envelope);
    std::string body = env.At("body").as_string();
    const Json* props = env.Find("properties");
    if (props != nullptr && StringOr(props->Find("body_encoding")) == "base64") {
      std::string decoded;
      if (!protocol::Base64Decode(body, &decoded)) throw std::invalid_argument("bad base64 body");
      body = std::move(decoded);
    }
    const Json msg = Json::Parse(body);
    ControlRequest r;
    r.method = msg.At("method").as_string();
    if (const Json* a = msg.Find("arguments"); a != nullptr && a->is_object()) r.arguments = *a;
    if (const Json* d = msg.Find("destination"); d != nullptr && d->is_array()) {
      for (const Json& name : d->as_array()) {
        if (name.is_string()) r.destination.push_back(name.as_string());
      }
    }
    r.pattern = StringOr(msg.Find("pattern"));
    r.matcher = StringOr(msg.Find("matcher"));
    r.ticket = StringOr(msg.Find("ticket"));
    if (const Json* rt = msg.Find("reply_to"); rt != nullptr && rt->is_object()) {
      r.reply_to = StringOr(rt->Find("routing_key"));
    }
    if (const Json* h = env.Find("headers"); h != nullptr && h->is_object()) {
      if (const Json* c = h->Find("clock"); c != nullptr && c->is_int()) r.clock = c->as_int();
    }
    return r;
  } catch (const std::exception& e) {
    *error = e.what();
    return std::nullopt;
  }
}

bool AddressedTo(const ControlRequest& r, const std::string& nodename) {
  if (!r.destination.empty()) {
    for (const std::string& d : r.destination) {
      if (d == nodename) return true;
    }
    return false;
  }
  if (!r.pattern.empty() && !r.matcher.empty()) {
    // Celery's matchers: glob (fnmatch) and pcre; a pcre pattern is matched as a glob here.
    return fnmatch(r.pattern.c_str(), nodename.c_str(), 0) == 0;
  }
  return true;
}

std::string EncodeReply(const std::string& nodename, const Json& result,
                        const ControlRequest& request, int64_t clock,
                        const std::string& delivery_tag) {
  Json body = Json::MakeObject({});
  body.Set(nodename, result);
  return protocol::EncodeTransientEnvelope(
      body.Dump(), Json::MakeObject({{"ticket", request.ticket}, {"clock", clock}}),
      std::string(kReplyExchange), request.reply_to, delivery_tag);
}

std::vector<std::string> ReplyQueues(const std::vector<std::string>& rows,
                                     const std::string& routing_key) {
  std::vector<std::string> queues;
  for (const std::string& row : rows) {
    const size_t a = row.find(protocol::kPrioritySep);
    if (a == std::string::npos) continue;
    const size_t b = row.find(protocol::kPrioritySep, a + protocol::kPrioritySep.size());
    if (b == std::string::npos) continue;
    if (row.substr(0, a) == routing_key) {
      queues.push_back(row.substr(b + protocol::kPrioritySep.size()));
    }
  }
  return queues;
}

std::string MailboxChannel(int db) { return "/" + std::to_string(db) + ".celery.pidbox"; }

MailboxServer::MailboxServer(redis::Url broker, std::string nodename, Handler handler,
                             std::function<int64_t(int64_t)> tick_clock)
    : broker_(std::move(broker)),
      nodename_(std::move(nodename)),
      handler_(std::move(handler)),
      tick_clock_(std::move(tick_clock)) {}

MailboxServer::~MailboxServer() { Stop(); }

void MailboxServer::Start() {
  if (!thread_.joinable()) thread_ = std::thread([this] { Loop(); });
}

void MailboxServer::Stop() {
  stop_.store(true);
  if (thread_.joinable()) thread_.join();
}

void MailboxServer::Loop() {
  const std::string channel = MailboxChannel(broker_.db);
  int failures = 0;
  while (!stop_.load()) {
    try {
      redis::Connection sub(broker_, "control");
      redis::Connection replies(broker_, "control");  // sub can only listen once subscribed
      sub.Connect();
      // The queue kombu's Mailbox declares for this node (nothing is ever pushed to it on Redis:
      // delivery is pub/sub), so tools that list bindings see the worker.
      replies.Call({"SADD", protocol::BindingKey(kMailboxExchange),
                    protocol::BindingRow("", "", nodename_ + "." + std::string(kMailboxExchange))});
      const redis::Reply ok = sub.Call({"PSUBSCRIBE", channel});
      if (ok.is_error()) throw std::runtime_error(std::string(ok.str()));
      subscribed_.store(true);
      failures = 0;
      while (!stop_.load()) {
        if (!sub.WaitReadable(std::chrono::milliseconds(500))) continue;
        const redis::Reply msg = sub.ReadNext();
        if (!msg.is_array() || msg.size() < 4 || msg.at(0).str() != "pmessage") continue;
        std::string error;
        const std::optional<ControlRequest> request =
            DecodeRequest(std::string(msg.at(3).str()), &error);
        if (!request) {
          spdlog::error("Ignoring a malformed remote control message: {}", error);
          continue;
        }
        tick_clock_(request->clock);
        if (!AddressedTo(*request, nodename_)) continue;
        std::optional<Json> result;
        try {
          result = handler_(*request);
        } catch (const std::exception& e) {
          result = Json::MakeObject({{"error", std::string(e.what())}});
        }
        if (result && !request->ticket.empty()) Reply(replies, *request, *result);
      }
    } catch (const std::exception& e) {
      // Redis went away: remote control is unavailable until it is back (tasks go on).
      if (failures++ == 0) spdlog::warn("Remote control unavailable: {}", e.what());
      for (int slept = 0; slept < std::min(5000, 250 * failures) && !stop_.load(); slept += 50) {
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
      }
    }
  }
}

void MailboxServer::Reply(redis::Connection& conn, const ControlRequest& request,
                          const Json& result) {
  const redis::Reply rows = conn.Call({"SMEMBERS", protocol::BindingKey(kReplyExchange)});
  std::vector<std::string> texts;
  for (size_t i = 0; rows.is_array() && i < rows.size(); ++i) {
    texts.emplace_back(rows.at(i).str());
  }
  const std::string envelope =
      EncodeReply(nodename_, result, request, tick_clock_(0), util::Uuid4());
  for (const std::string& queue : ReplyQueues(texts, request.reply_to)) {
    conn.Call({"LPUSH", queue, envelope});
  }
}

}  // namespace cw::control

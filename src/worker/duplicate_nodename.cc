#include "worker/duplicate_nodename.h"

#include <unistd.h>

#include <chrono>

#include <spdlog/spdlog.h>

#include <cw/protocol/base64.h>
#include <cworker/json.h>

#include "events/event_dispatcher.h"
#include "redis/connection.h"

namespace cw::worker {

DuplicateNodenameCheck::DuplicateNodenameCheck(redis::Url broker, std::string nodename,
                                               double seconds)
    : broker_(std::move(broker)), nodename_(std::move(nodename)) {
  thread_ = std::thread([this, seconds] { Run(seconds); });
}

DuplicateNodenameCheck::~DuplicateNodenameCheck() {
  stop_.store(true);
  if (thread_.joinable()) thread_.join();
}

bool DuplicateNodenameCheck::IsDuplicate(const std::string& event_envelope,
                                         const std::string& nodename, int64_t pid,
                                         std::string* other) {
  try {
    const Json env = Json::Parse(event_envelope);
    const Json* body = env.Find("body");
    if (body == nullptr || !body->is_string()) return false;
    std::string text;
    if (!protocol::Base64Decode(body->as_string(), &text)) return false;
    const Json event = Json::Parse(text);
    const Json* hostname = event.Find("hostname");
    const Json* their_pid = event.Find("pid");
    if (hostname == nullptr || !hostname->is_string() || hostname->as_string() != nodename) {
      return false;
    }
    if (their_pid != nullptr && their_pid->is_int() && their_pid->as_int() == pid) return false;
    *other = their_pid != nullptr ? their_pid->Dump() : "?";
    return true;
  } catch (const JsonError&) {
    return false;  // not an event we can read: not ours to judge
  }
}

void DuplicateNodenameCheck::Run(double seconds) {
  const auto deadline = std::chrono::steady_clock::now() +
                        std::chrono::duration_cast<std::chrono::steady_clock::duration>(
                            std::chrono::duration<double>(seconds));
  try {
    redis::Connection sub(broker_, "events");
    sub.Connect();
    const redis::Reply ok = sub.Call({"PSUBSCRIBE", events::EventChannel(broker_.db, "worker.*")});
    if (ok.is_error()) return;
    while (!stop_.load() && std::chrono::steady_clock::now() < deadline) {
      if (!sub.WaitReadable(std::chrono::milliseconds(200))) continue;
      const redis::Reply msg = sub.ReadNext();
      if (!msg.is_array() || msg.size() < 4 || msg.at(0).str() != "pmessage") continue;
      std::string other;
      if (IsDuplicate(std::string(msg.at(3).str()), nodename_, getpid(), &other)) {
        spdlog::warn("DuplicateNodenameWarning: another worker (pid {}) runs with the node name "
                     "{}. Please make sure you give each node a unique nodename using the "
                     "worker's -n option: replies, revokes and events of the two cannot be told "
                     "apart.",
                     other, nodename_);
        return;
      }
    }
  } catch (const std::exception& e) {
    spdlog::debug("Duplicate node name check skipped: {}", e.what());
  }
}

}  // namespace cw::worker

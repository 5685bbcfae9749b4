// Celery's remote control on Redis (kombu's pidbox), as `celery inspect` / `celery control`
// and Flower use it:
//   requests:  PUBLISH /<db>.celery.pidbox <envelope>, to every worker; each filters by
//              `destination` (node names) or `pattern` + `matcher` (glob);
//   replies:   LPUSH to each queue bound to exchange reply.celery.pidbox with the request's
//              reply_to routing key (rows of _kombu.binding.reply.celery.pidbox).
// MailboxServer subscribes on a thread and connection of its own and hands each request
// addressed to this node to the worker's handler.
#pragma once

#include <atomic>
#include <functional>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <cworker/json.h>

#include "redis/url.h"

namespace cw::redis {
class Connection;
}

namespace cw::control {

struct ControlRequest {
  std::string method;
  Json arguments = Json::Object{};
  std::vector<std::string> destination;  ///< empty: every node (unless pattern)
  std::string pattern;                   ///< with matcher "glob"
  std::string matcher;
  std::string ticket;    ///< empty: a cast, nobody waits for a reply
  std::string reply_to;  ///< reply routing key (the client's oid)
  int64_t clock = 0;     ///< the sender's Lamport clock (headers.clock)
};

/// Decodes a pidbox envelope; nullopt (with `error`) when it is not one.
std::optional<ControlRequest> DecodeRequest(const std::string& envelope, std::string* error);
/// Whether `request` is for node `nodename`.
bool AddressedTo(const ControlRequest& request, const std::string& nodename);
/// The reply envelope: body {nodename: result}.
std::string EncodeReply(const std::string& nodename, const Json& result,
                        const ControlRequest& request, int64_t clock,
                        const std::string& delivery_tag);
/// The queues of `binding_rows` (kombu's "<routing key>\x06\x16<pattern>\x06\x16<queue>")
/// whose routing key is `routing_key`.
std::vector<std::string> ReplyQueues(const std::vector<std::string>& binding_rows,
                                     const std::string& routing_key);
/// "/0.celery.pidbox"
std::string MailboxChannel(int db);

/// What the worker does with a request: the reply's value (nullopt: no reply).
using Handler = std::function<std::optional<Json>(const ControlRequest&)>;

class MailboxServer {
 public:
  MailboxServer(redis::Url broker, std::string nodename, Handler handler,
                std::function<int64_t(int64_t received)> tick_clock);
  ~MailboxServer();
  /// Declares this node's pidbox queue binding and starts listening on a thread.
  void Start();
  /// Whether the channel is subscribed: requests published from now on reach this node.
  bool subscribed() const { return subscribed_.load(); }
  /// Stops listening and joins the thread (within half a second). Safe to repeat.
  void Stop();

 private:
  void Loop();
  void Reply(redis::Connection& conn, const ControlRequest& request, const Json& result);

  redis::Url broker_;
  std::string nodename_;
  Handler handler_;
  std::function<int64_t(int64_t)> tick_clock_;
  std::atomic<bool> stop_{false};
  std::atomic<bool> subscribed_{false};
  std::thread thread_;
};

}  // namespace cw::control

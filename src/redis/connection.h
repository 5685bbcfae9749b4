// A Redis connection on hiredis, with reconnects, that blocks the caller until Redis answers.
//
// It has two engines behind one synchronous interface, chosen when it connects:
//  - on a plain thread, hiredis's blocking context: the call blocks the thread;
//  - in a green fiber (green/scheduler.h), hiredis's async context on the scheduler's libuv
//    loop: the call parks only the fiber. Many fibers may share one such connection: their
//    commands are pipelined on the socket and each fiber wakes when its own replies arrive, so
//    thousands of tasks storing results at once cost a few writes, not thousands of round trips.
// A connection made in one mode must stay in it (the worker creates its connections inside the
// fibers that use them).
//
// Errors: a dropped or refused connection throws redis::ConnectionError and closes the socket;
// the next call reconnects. Callers that must not give up use CallRetrying(), which reconnects
// with backoff (logging like Celery's "Cannot connect to ...: ... Trying again in 2.00
// seconds...") until it succeeds or the stop flag is raised.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <deque>
#include <initializer_list>
#include <map>
#include <memory>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "redis/command_queue.h"
#include "redis/url.h"

struct redisContext;
struct redisAsyncContext;
struct redisReply;

namespace cw::redis {

/// The connection failed (refused, reset, timed out). The command may or may not have run.
class ConnectionError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

/// Raised by CallRetrying when the stop flag was raised while Redis was unreachable.
class Stopped : public std::runtime_error {
 public:
  Stopped() : std::runtime_error("stopped while waiting for Redis") {}
};

/// One reply, owning its hiredis tree (or a view of an element inside a parent's).
class Reply {
 public:
  Reply() = default;
  bool is_nil() const;
  bool is_error() const;
  bool is_string() const;  ///< bulk or status string
  bool is_integer() const;
  bool is_array() const;
  std::string_view str() const;  ///< string, status or error text; empty otherwise
  long long integer() const;
  size_t size() const;  ///< array length
  Reply at(size_t i) const;

 private:
  friend class Connection;
  std::shared_ptr<redisReply> root_;
  const redisReply* node_ = nullptr;
};

/// A server-side script, sent by EVALSHA; loaded (SCRIPT LOAD) on first use and again after a
/// NOSCRIPT reply (Redis restarted). Use one Script from one thread.
struct Script {
  explicit Script(std::string lua) : source(std::move(lua)) {}
  std::string source;
  mutable std::string sha1;  ///< filled by the first SCRIPT LOAD
};

class Connection {
 public:
  /// `role` names the connection in logs ("broker", "backend").
  Connection(Url url, std::string role);
  ~Connection();
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  const Url& url() const { return url_; }
  bool connected() const { return ctx_ != nullptr || actx_ != nullptr; }
  /// Connects (AUTH, SELECT) if not connected. Throws ConnectionError.
  void Connect();
  void Close();

  /// Sends one command and waits for its reply. Redis error replies are returned, not thrown.
  Reply Call(const std::vector<std::string_view>& argv);
  /// Sends several commands in one write and reads all replies (one round trip).
  std::vector<Reply> Pipeline(const std::vector<std::vector<std::string_view>>& commands);
  /// EVALSHA, falling back to EVAL when the script cache does not have it.
  Reply Eval(const Script& script, const std::vector<std::string_view>& keys,
             const std::vector<std::string_view>& args);

  /// Write-behind for idempotent writes (acks, results): on a plain thread the commands are
  /// written to the socket now and their replies read later, before the next call's own reply
  /// or at Flush(); an error reply is logged then. Should the connection drop first, they are
  /// sent again once it is back. In a fiber (async engine) the commands are queued with the
  /// other fibers' and the caller goes on after one loop turn, when they have been written;
  /// their replies are taken (errors logged) as they come, and Flush() waits for them all.
  /// The commands are written in place ({{"ZREM", k, m}, {"HDEL", h, m}}): nothing is copied
  /// but the bytes that go on the wire.
  void Defer(std::initializer_list<std::initializer_list<std::string_view>> commands);
  /// Defer() of a script call (EVALSHA, or EVAL again if Redis lost its script cache).
  void DeferEval(const Script& script, std::initializer_list<std::string_view> keys,
                 std::initializer_list<std::string_view> args);
  /// Reads every deferred reply, reconnecting and resending with backoff while Redis is away.
  /// Throws Stopped if `*stop` becomes true meanwhile.
  void Flush(const std::atomic<bool>* stop);

  /// Call() that reconnects with backoff on connection errors until it succeeds. Throws
  /// Stopped if `*stop` becomes true while waiting (checked between attempts).
  Reply CallRetrying(const std::vector<std::string_view>& argv, const std::atomic<bool>* stop);
  /// Runs `fn(*this)` and retries it the same way when it throws ConnectionError.
  template <class Fn>
  auto Retrying(Fn&& fn, const std::atomic<bool>* stop) -> decltype(fn(*this));

  /// Remember the server's id for this connection (CLIENT ID at each connect), so another
  /// thread can end its blocking command with CLIENT KILL ID (cold shutdown). -1 until known.
  void track_client_id() { track_client_id_ = true; }
  long long client_id() const { return client_id_.load(); }

  /// Connections made again after this one had been connected once (lost, then back).
  int64_t reconnects() const { return reconnects_.load(); }
  /// Connections made so far (0 before the first): server-side state set on a connection
  /// (CLIENT TRACKING) must be set again when this changes.
  int64_t connects() const { return connected_before_ ? reconnects_.load() + 1 : 0; }

  /// Use the blocking engine even when connecting inside a fiber. For a subscriber that a
  /// fiber waits on with WaitReadable (which parks only the fiber); its few commands block.
  void set_sync_only() { sync_only_ = true; }

  /// Blocks for the next reply on a subscribed connection (pub/sub messages). Plain threads
  /// only. Throws ConnectionError when the connection is lost.
  Reply ReadNext() { return ReadReply(); }
  /// Whether a reply can be read now or within `timeout` (sync connections): a subscriber polls
  /// with this so it can stop, without a socket timeout that would break the connection. In a
  /// fiber only the fiber waits.
  bool WaitReadable(std::chrono::milliseconds timeout);

  /// Socket timeout for replies (blocking commands add their own timeout on top).
  void set_reply_timeout(std::chrono::milliseconds timeout);

 private:
  void Backoff(int attempt, const std::string& error, const std::atomic<bool>* stop);
  [[noreturn]] void Fail(const std::string& what);
  Reply ReadReply();
  void ConnectSync();
  void ConnectAsync();
  bool ConnectingInAnotherFiber() const;
  void AfterConnect();
  std::vector<Reply> PipelineAsync(const std::vector<std::vector<std::string_view>>& commands);
  static void OnAsyncConnect(const redisAsyncContext* ac, int status);
  static void OnAsyncDisconnect(const redisAsyncContext* ac, int status);

  void DiscoverMaster();
  void ThrowIfDemoted(const Reply& r);

  Url url_;
  std::string role_;
  std::string host_;  ///< where to connect: the URL's host, or the master a sentinel named
  int port_ = 0;
  redisContext* ctx_ = nullptr;
  redisAsyncContext* actx_ = nullptr;
  struct AsyncConnect;  // an async connect in progress; other fibers wait for it
  std::shared_ptr<AsyncConnect> connecting_;
  std::chrono::milliseconds reply_timeout_{10000};
  bool track_client_id_ = false;
  std::atomic<long long> client_id_{-1};
  bool connected_before_ = false;
  bool sync_only_ = false;
  std::atomic<int64_t> reconnects_{0};
  // Write-behind (plain threads): commands sent whose replies are not read yet, oldest first;
  // `unread_` of them were sent on the current socket (the rest go again after a reconnect).
  void SendDeferredTail(size_t n);
  void ReadDeferred();
  void SendResends();
  // Write-behind in fibers (async engine): deferred_ holds the commands not answered yet.
  static void OnDeferredReply(redisAsyncContext* ac, void* raw, void* priv);
  void SendDeferredAsync(size_t from);
  template <class Commands>
  void DeferAll(const Commands& commands);
  template <class Commands>
  void DeferAsync(const Commands& commands);
  void FlushAsync(const std::atomic<bool>* stop);
  bool demoted_ = false;  ///< a deferred write met READONLY: reconnect before the next command
  /// The EVAL form of `command` when it is an EVALSHA of a known script; empty otherwise.
  std::string EvalInstead(std::string_view command) const;
  void LogRefusedWrite(std::string_view command, std::string_view error) const;
  std::vector<std::string> resend_;  ///< NOSCRIPT'd EVALSHAs to send as EVAL
  CommandQueue deferred_;
  uint64_t deferred_answered_ = 0;  ///< replies to deferred commands so far (async engine)
  size_t unread_ = 0;
  std::map<std::string, std::string> script_sources_;  ///< sha1 -> source, for NOSCRIPT
};

template <class Fn>
auto Connection::Retrying(Fn&& fn, const std::atomic<bool>* stop) -> decltype(fn(*this)) {
  for (int attempt = 1;; ++attempt) {
    try {
      return fn(*this);
    } catch (const ConnectionError& e) {
      Backoff(attempt, e.what(), stop);
    }
  }
}

}  // namespace cw::redis

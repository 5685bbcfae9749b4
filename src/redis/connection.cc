#include "redis/connection.h"

#include <arpa/inet.h>
#include <hiredis/hiredis.h>
#include <netdb.h>
#include <netinet/in.h>

#include <algorithm>
#include <thread>

#include <spdlog/spdlog.h>

namespace cw::redis {

// ----- Reply ------------------------------------------------------------------------------------
bool Reply::is_nil() const { return node_ == nullptr || node_->type == REDIS_REPLY_NIL; }
bool Reply::is_error() const { return node_ != nullptr && node_->type == REDIS_REPLY_ERROR; }
bool Reply::is_string() const {
  return node_ != nullptr &&
         (node_->type == REDIS_REPLY_STRING || node_->type == REDIS_REPLY_STATUS);
}
bool Reply::is_integer() const { return node_ != nullptr && node_->type == REDIS_REPLY_INTEGER; }
bool Reply::is_array() const { return node_ != nullptr && node_->type == REDIS_REPLY_ARRAY; }
std::string_view Reply::str() const {
  if (node_ == nullptr || node_->str == nullptr) return {};
  return {node_->str, static_cast<size_t>(node_->len)};
}
long long Reply::integer() const { return is_integer() ? node_->integer : 0; }
size_t Reply::size() const { return is_array() ? node_->elements : 0; }
Reply Reply::at(size_t i) const {
  Reply r;
  if (i < size()) {
    r.root_ = root_;
    r.node_ = node_->element[i];
  }
  return r;
}

// ----- Connection -------------------------------------------------------------------------------
namespace {

// Every address `host` resolves to, as text, in the resolver's order (the host itself when it
// is already numeric or does not resolve: hiredis then reports the error).
std::vector<std::string> ResolveAll(const std::string& host) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* found = nullptr;
  std::vector<std::string> out;
  if (getaddrinfo(host.c_str(), nullptr, &hints, &found) == 0) {
    for (addrinfo* a = found; a != nullptr; a = a->ai_next) {
      char text[INET6_ADDRSTRLEN] = {};
      const void* raw = a->ai_family == AF_INET6
                            ? static_cast<const void*>(
                                  &reinterpret_cast<sockaddr_in6*>(a->ai_addr)->sin6_addr)
                            : static_cast<const void*>(
                                  &reinterpret_cast<sockaddr_in*>(a->ai_addr)->sin_addr);
      if (inet_ntop(a->ai_family, raw, text, sizeof text) != nullptr &&
          std::find(out.begin(), out.end(), text) == out.end()) {
        out.emplace_back(text);
      }
    }
    freeaddrinfo(found);
  }
  if (out.empty()) out.push_back(host);
  return out;
}

}  // namespace

Connection::Connection(Url url, std::string role) : url_(std::move(url)), role_(std::move(role)) {}

Connection::~Connection() { Close(); }

void Connection::Close() {
  if (ctx_ != nullptr) {
    redisFree(ctx_);
    ctx_ = nullptr;
  }
}

void Connection::Fail(const std::string& what) {
  std::string message = what;
  if (ctx_ != nullptr && ctx_->err != 0) message += ": " + std::string(ctx_->errstr);
  Close();
  throw ConnectionError(message);
}

void Connection::set_reply_timeout(std::chrono::milliseconds timeout) {
  reply_timeout_ = timeout;
  if (ctx_ != nullptr) {
    timeval tv{static_cast<time_t>(timeout.count() / 1000),
               static_cast<suseconds_t>((timeout.count() % 1000) * 1000)};
    redisSetTimeout(ctx_, tv);
  }
}

void Connection::Connect() {
  if (ctx_ != nullptr) return;
  const timeval connect_timeout{2, 0};
  if (url_.unix_path.empty()) {
    // hiredis gives up after the first address a name resolves to; redis-py tries them all.
    // So does this: "localhost" may be ::1 first while Redis listens on 127.0.0.1 only.
    std::string last_error = "cannot resolve " + url_.host;
    for (const std::string& address : ResolveAll(url_.host)) {
      ctx_ = redisConnectWithTimeout(address.c_str(), url_.port, connect_timeout);
      if (ctx_ == nullptr) throw ConnectionError("out of memory creating a Redis context");
      if (ctx_->err == 0) break;
      last_error = "Error connecting to " + url_.host + ":" + std::to_string(url_.port) + ": " +
                   ctx_->errstr;
      Close();
    }
    if (ctx_ == nullptr) throw ConnectionError(last_error);
  } else {
    ctx_ = redisConnectUnixWithTimeout(url_.unix_path.c_str(), connect_timeout);
    if (ctx_ == nullptr) throw ConnectionError("out of memory creating a Redis context");
    if (ctx_->err != 0) Fail("Error connecting to " + url_.unix_path);
  }
  redisEnableKeepAlive(ctx_);
  set_reply_timeout(reply_timeout_);
  auto check = [this](const Reply& r, const char* what) {
    if (r.is_error()) {
      const std::string text(r.str());
      Close();
      throw ConnectionError(std::string(what) + " failed: " + text);
    }
  };
  if (!url_.password.empty()) {
    if (url_.username.empty()) {
      check(Call({"AUTH", url_.password}), "AUTH");
    } else {
      check(Call({"AUTH", url_.username, url_.password}), "AUTH");
    }
  }
  if (url_.db != 0) check(Call({"SELECT", std::to_string(url_.db)}), "SELECT");
}

Reply Connection::ReadReply() {
  void* raw = nullptr;
  if (redisGetReply(ctx_, &raw) != REDIS_OK || raw == nullptr) {
    Fail("Redis connection (" + role_ + ") lost");
  }
  Reply r;
  r.root_ = std::shared_ptr<redisReply>(static_cast<redisReply*>(raw), &freeReplyObject);
  r.node_ = r.root_.get();
  return r;
}

Reply Connection::Call(const std::vector<std::string_view>& argv) {
  return Pipeline({argv}).front();
}

std::vector<Reply> Connection::Pipeline(const std::vector<std::vector<std::string_view>>& commands) {
  Connect();
  std::vector<const char*> args;
  std::vector<size_t> lens;
  for (const auto& argv : commands) {
    args.clear();
    lens.clear();
    for (std::string_view a : argv) {
      args.push_back(a.data());
      lens.push_back(a.size());
    }
    if (redisAppendCommandArgv(ctx_, static_cast<int>(args.size()), args.data(), lens.data()) !=
        REDIS_OK) {
      Fail("Redis command could not be queued");
    }
  }
  std::vector<Reply> replies;
  replies.reserve(commands.size());
  for (size_t i = 0; i < commands.size(); ++i) replies.push_back(ReadReply());
  return replies;
}

Reply Connection::Eval(const Script& script, const std::vector<std::string_view>& keys,
                       const std::vector<std::string_view>& args) {
  for (int attempt = 0; attempt < 2; ++attempt) {
    if (script.sha1.empty()) {
      const Reply loaded = Call({"SCRIPT", "LOAD", script.source});
      if (!loaded.is_string()) return loaded;  // a Redis error reply: the caller reports it
      script.sha1 = std::string(loaded.str());
    }
    const std::string nkeys = std::to_string(keys.size());
    std::vector<std::string_view> argv = {"EVALSHA", script.sha1, nkeys};
    argv.insert(argv.end(), keys.begin(), keys.end());
    argv.insert(argv.end(), args.begin(), args.end());
    Reply r = Call(argv);
    if (r.is_error() && r.str().starts_with("NOSCRIPT")) {
      script.sha1.clear();  // Redis restarted or flushed its script cache: load again
      continue;
    }
    return r;
  }
  Fail("script could not be loaded");
}

void Connection::Backoff(int attempt, const std::string& error, const std::atomic<bool>* stop) {
  // Celery's broker_connection_retry schedule, capped: 0.5 s, 1 s, 2 s, ... 8 s.
  const double delay = std::min(8.0, 0.5 * static_cast<double>(1 << std::min(attempt - 1, 5)));
  spdlog::error("Cannot connect to {}: {}. Trying again in {:.2f} seconds... ({})",
                url_.ToString(), error, delay, attempt);
  const auto until = std::chrono::steady_clock::now() + std::chrono::duration<double>(delay);
  while (std::chrono::steady_clock::now() < until) {
    if (stop != nullptr && stop->load()) throw Stopped();
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  if (stop != nullptr && stop->load()) throw Stopped();
}

Reply Connection::CallRetrying(const std::vector<std::string_view>& argv,
                               const std::atomic<bool>* stop) {
  return Retrying([&](Connection& c) { return c.Call(argv); }, stop);
}

}  // namespace cw::redis

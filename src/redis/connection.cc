#include "redis/connection.h"

#include <arpa/inet.h>
#include <hiredis/async.h>
#include <hiredis/hiredis.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>

#include <algorithm>
#include <array>
#include <charconv>
#include <new>

#include <spdlog/spdlog.h>

#include "green/waits.h"
#include "redis/reply_pool.h"
#include "redis/uv_attach.h"

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

// Every command not written behind is formatted here, with the key prefix (global_keyprefix) put
// on by AppendResp as for written-behind ones, and copied by hiredis at once (no fiber switch in
// between): one buffer per thread serves all connections and keeps its capacity.
std::string_view FormatInThreadBuffer(std::span<const std::string_view> argv,
                                      const std::string& prefix) {
  thread_local std::string buffer;
  buffer.clear();
  AppendResp(argv, prefix, &buffer);
  return buffer;
}

// The arguments of a formatted command, read back by hiredis's reader (only for the rare
// NOSCRIPT or error reply).
std::vector<std::string> CommandArgs(std::string_view command) {
  std::vector<std::string> argv;
  redisReader* reader = redisReaderCreate();
  void* raw = nullptr;
  if (reader != nullptr && redisReaderFeed(reader, command.data(), command.size()) == REDIS_OK &&
      redisReaderGetReply(reader, &raw) == REDIS_OK && raw != nullptr) {
    const auto* array = static_cast<const redisReply*>(raw);
    for (size_t i = 0; array->type == REDIS_REPLY_ARRAY && i < array->elements; ++i) {
      argv.emplace_back(array->element[i]->str, array->element[i]->len);
    }
    freeReplyObject(raw);
  }
  if (reader != nullptr) redisReaderFree(reader);
  return argv;
}

}  // namespace

Connection::Connection(Url url, std::string role) : url_(std::move(url)), role_(std::move(role)) {}

Connection::~Connection() { Close(); }

void Connection::Close() {
  unread_ = 0;  // what was sent on this socket and not read goes again after a reconnect
  if (ctx_ != nullptr) {
    redisFree(ctx_);
    ctx_ = nullptr;
  }
  if (actx_ != nullptr) {
    redisAsyncContext* ac = actx_;
    actx_ = nullptr;
    ac->data = nullptr;
    redisAsyncFree(ac);  // pending callbacks get a null reply: their fibers see a lost connection
  }
}

void Connection::Fail(const std::string& what) {
  std::string message = what;
  if (ctx_ != nullptr && ctx_->err != 0) message += ": " + std::string(ctx_->errstr);
  if (actx_ != nullptr && actx_->err != 0) message += ": " + std::string(actx_->errstr);
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
  if (demoted_) {  // a deferred write was refused by a demoted master (async engine)
    demoted_ = false;
    Close();
  }
  // Another fiber is connecting this connection: wait until it is done (AUTH, SELECT and the
  // resend of unanswered writes included). Going ahead on the half-made context would send
  // commands before SELECT (into the wrong database) and ahead of that resend.
  if (ConnectingInAnotherFiber()) {
    ConnectAsync();
    return;
  }
  if (connected()) return;
  if (url_.is_sentinel()) {
    DiscoverMaster();
  } else {
    host_ = url_.host;
    port_ = url_.port;
  }
  if (green::CurrentFiber() != nullptr && !sync_only_) {
    ConnectAsync();
  } else {
    ConnectSync();
  }
}

void Connection::ConnectSync() {
  const timeval connect_timeout{2, 0};
  if (url_.unix_path.empty()) {
    // hiredis gives up after the first address a name resolves to; redis-py tries them all.
    // So does this: "localhost" may be ::1 first while Redis listens on 127.0.0.1 only.
    std::string last_error = "cannot resolve " + host_;
    for (const std::string& address : ResolveAll(host_)) {
      ctx_ = redisConnectWithTimeout(address.c_str(), port_, connect_timeout);
      if (ctx_ == nullptr) throw ConnectionError("out of memory creating a Redis context");
      if (ctx_->err == 0) break;
      last_error = "Error connecting to " + host_ + ":" + std::to_string(port_) + ": " +
                   ctx_->errstr;
      Close();
    }
    if (ctx_ == nullptr) throw ConnectionError(last_error);
  } else {
    ctx_ = redisConnectUnixWithTimeout(url_.unix_path.c_str(), connect_timeout);
    if (ctx_ == nullptr) throw ConnectionError("out of memory creating a Redis context");
    if (ctx_->err != 0) Fail("Error connecting to " + url_.unix_path);
  }
  // TCP keepalive only: on a unix socket hiredis's TCP options fail (EOPNOTSUPP) and leave the
  // context in an error state that fails every command after it.
  if (url_.unix_path.empty()) redisEnableKeepAlive(ctx_);
  set_reply_timeout(reply_timeout_);
  AfterConnect();
}

void Connection::AfterConnect() {
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
  if (url_.is_sentinel()) {
    // The sentinels may still name a master that has just been demoted: only a master will do.
    const Reply role = Call({"ROLE"});
    if (!role.is_array() || role.size() == 0 || role.at(0).str() != "master") {
      Close();
      throw ConnectionError(host_ + ":" + std::to_string(port_) + " is not the master of '" +
                            url_.master_name + "' (a failover is in progress)");
    }
  }
  if (connected_before_) reconnects_.fetch_add(1);
  connected_before_ = true;
  if (ctx_ != nullptr && !deferred_.empty()) SendDeferredTail(deferred_.size());
  if (actx_ != nullptr && !deferred_.empty()) SendDeferredAsync(0);
  if (track_client_id_) {
    const Reply id = Call({"CLIENT", "ID"});
    client_id_.store(id.is_integer() ? id.integer() : -1);
  }
}

// redis-py's Sentinel.discover_master: ask each sentinel in turn for the master's address; the
// first that knows it wins. Blocking and short (1 s per sentinel), even in a fiber: it happens
// only when (re)connecting.
void Connection::DiscoverMaster() {
  if (url_.master_name.empty()) {
    throw ConnectionError("'master_name' transport option must be specified for " +
                          url_.ToString());
  }
  std::string errors;
  for (const auto& [host, port] : url_.sentinels) {
    Url at;  // a sentinel is a plain Redis connection (no auth, db 0)
    at.host = host;
    at.port = port;
    Connection sentinel(at, "sentinel");
    sentinel.set_sync_only();
    sentinel.set_reply_timeout(std::chrono::milliseconds(1000));
    const std::string where = " " + host + ":" + std::to_string(port);
    try {
      const Reply reply = sentinel.Call({"SENTINEL", "get-master-addr-by-name", url_.master_name});
      if (reply.is_array() && reply.size() == 2 && reply.at(0).is_string()) {
        host_ = std::string(reply.at(0).str());
        port_ = std::atoi(std::string(reply.at(1).str()).c_str());
        return;
      }
      errors += where + " (does not know '" + url_.master_name + "')";
    } catch (const ConnectionError& e) {
      errors += where + " (" + e.what() + ")";
    }
  }
  throw ConnectionError("No master found for '" + url_.master_name + "' by any sentinel:" + errors);
}

bool Connection::WaitReadable(std::chrono::milliseconds timeout) {
  if (ctx_ == nullptr) return true;  // the read that follows reports the problem
  if (ctx_->reader != nullptr && ctx_->reader->pos < ctx_->reader->len) return true;  // buffered
  return green::WaitFd(ctx_->fd, green::kReadable, timeout) != 0;  // ready, error or hang-up
}

Reply Connection::ReadReply() {
  void* raw = nullptr;
  if (redisGetReply(ctx_, &raw) != REDIS_OK || raw == nullptr) {
    Fail("Redis connection (" + role_ + ") lost");
  }
  Reply r;
  r.root_ = std::shared_ptr<redisReply>(static_cast<redisReply*>(raw), &freeReplyObject);
  r.node_ = r.root_.get();
  ThrowIfDemoted(r);
  return r;
}

// After a Sentinel failover the old master comes back as a replica and refuses writes with
// READONLY: that is a lost connection (as redis-py's SentinelManagedConnection treats it), so the
// callers' retries reconnect to whichever server the sentinels now name.
void Connection::ThrowIfDemoted(const Reply& r) {
  if (url_.is_sentinel() && r.is_error() && r.str().starts_with("READONLY")) {
    Close();
    throw ConnectionError("Redis connection (" + role_ + ") to " + host_ + ":" +
                          std::to_string(port_) + " is a replica now (failover)");
  }
}

Reply Connection::Call(const std::vector<std::string_view>& argv) {
  return Pipeline({argv}).front();
}

std::vector<Reply> Connection::Pipeline(const std::vector<std::vector<std::string_view>>& commands) {
  Connect();
  if (actx_ != nullptr) return PipelineAsync(commands);
  for (const auto& argv : commands) {
    const std::string_view command = FormatInThreadBuffer(argv, url_.key_prefix);
    if (redisAppendFormattedCommand(ctx_, command.data(), command.size()) != REDIS_OK) {
      Fail("Redis command could not be queued");
    }
  }
  ReadDeferred();  // the replies of earlier deferred writes come first on this socket
  std::vector<Reply> replies;
  replies.reserve(commands.size());
  for (size_t i = 0; i < commands.size(); ++i) replies.push_back(ReadReply());
  SendResends();
  return replies;
}

// ----- write-behind (deferred writes) -----------------------------------------------------------
namespace {
constexpr size_t kMaxUnread = 512;  // read replies back before this many pile up
}  // namespace

template <class Commands>
void Connection::DeferAll(const Commands& commands) {
  Connect();
  if (actx_ != nullptr) {
    DeferAsync(commands);
    return;
  }
  for (const auto& argv : commands) deferred_.PushCommand(argv, url_.key_prefix);
  try {
    SendDeferredTail(commands.size());
    if (unread_ >= kMaxUnread) ReadDeferred();
  } catch (const ConnectionError&) {
    // Kept in deferred_: sent again by the next call or Flush() once Redis is back.
  }
}

void Connection::Defer(std::initializer_list<std::initializer_list<std::string_view>> commands) {
  DeferAll(commands);
}

namespace {

// EVALSHA sha1 nkeys keys... args...: in place for a small call (the result store's is 6
// arguments), so writing a script call behind allocates nothing.
class EvalshaArgv {
 public:
  EvalshaArgv(const std::string& sha1, std::string_view nkeys,
              std::span<const std::string_view> keys, std::span<const std::string_view> args) {
    const size_t n = 3 + keys.size() + args.size();
    if (n > kInPlace) heap_.resize(n);
    std::string_view* out = n > kInPlace ? heap_.data() : in_place_.data();
    size_ = 0;
    out[size_++] = "EVALSHA";
    out[size_++] = sha1;
    out[size_++] = nkeys;
    for (const std::string_view k : keys) out[size_++] = k;
    for (const std::string_view a : args) out[size_++] = a;
    data_ = out;
  }
  EvalshaArgv(const EvalshaArgv&) = delete;
  EvalshaArgv& operator=(const EvalshaArgv&) = delete;
  std::span<const std::string_view> span() const { return {data_, size_}; }
  std::vector<std::string_view> vector() const { return {data_, data_ + size_}; }

 private:
  static constexpr size_t kInPlace = 8;
  std::array<std::string_view, kInPlace> in_place_;
  std::vector<std::string_view> heap_;
  const std::string_view* data_ = nullptr;
  size_t size_ = 0;
};

}  // namespace

void Connection::DeferEval(const Script& script, std::initializer_list<std::string_view> keys,
                           std::initializer_list<std::string_view> args) {
  if (script.sha1.empty()) {
    // The script's first use on this connection's server: Eval loads it (and reloads it when
    // Redis lost its cache, a restart); a NOSCRIPT reply later is answered with EVAL.
    const Reply r = Eval(script, std::vector<std::string_view>(keys), std::vector<std::string_view>(args));
    if (r.is_error()) spdlog::error("Redis ({}) refused a write: {}", role_, r.str());
    return;
  }
  script_sources_.try_emplace(script.sha1, script.source);  // for a NOSCRIPT reply
  char nkeys[24];
  const auto [end, ec] = std::to_chars(nkeys, nkeys + sizeof nkeys, keys.size());
  const EvalshaArgv argv(script.sha1, std::string_view(nkeys, static_cast<size_t>(end - nkeys)),
                         keys, args);
  const std::span<const std::string_view> one = argv.span();
  DeferAll(std::span<const std::span<const std::string_view>>(&one, 1));
}

void Connection::SendDeferredTail(size_t n) {
  for (size_t i = deferred_.size() - n; i < deferred_.size(); ++i) {
    const std::string_view bytes = deferred_[i];
    if (redisAppendFormattedCommand(ctx_, bytes.data(), bytes.size()) != REDIS_OK) {
      Fail("Redis command could not be queued");
    }
  }
  unread_ += n;
  int done = 0;
  while (done == 0) {  // out now: an ack is on its way before the task runs
    if (redisBufferWrite(ctx_, &done) != REDIS_OK) Fail("Redis connection (" + role_ + ") lost");
  }
}

void Connection::ReadDeferred() {
  while (unread_ > 0) {
    const Reply r = ReadReply();
    --unread_;
    if (!r.is_error()) {
      deferred_.PopFront();
      continue;
    }
    const std::string command(deferred_.front());
    deferred_.PopFront();
    // Redis lost its script cache: EVAL this one (sent after the replies being read now).
    if (r.str().starts_with("NOSCRIPT")) {
      std::string eval = EvalInstead(command);
      if (!eval.empty()) {
        resend_.push_back(std::move(eval));
        continue;
      }
    }
    LogRefusedWrite(command, r.str());
  }
}

void Connection::SendResends() {
  if (resend_.empty()) return;
  const size_t n = resend_.size();
  for (const std::string& command : resend_) deferred_.PushBack(command);
  resend_.clear();
  SendDeferredTail(n);
}

void Connection::Flush(const std::atomic<bool>* stop) {
  if (actx_ != nullptr || (green::CurrentFiber() != nullptr && !sync_only_)) {
    FlushAsync(stop);
    return;
  }
  while (!deferred_.empty() || !resend_.empty()) {
    Retrying(
        [&](Connection& c) {
          c.Connect();
          c.ReadDeferred();
          c.SendResends();
          return 0;
        },
        stop);
  }
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
    Reply r = Call(EvalshaArgv(script.sha1, nkeys, keys, args).vector());
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
    green::SleepFor(std::chrono::milliseconds(50));  // parks only the fiber in the green pool
  }
  if (stop != nullptr && stop->load()) throw Stopped();
}

// ----- the async engine (green fibers) ---------------------------------------------------------
namespace {

// hiredis 0.14 frees each reply through its reader's freeObject right after the async
// callback returns (hiredis >= 1.0 can be told not to; Debian ships 0.14). Our async readers'
// freeObject skips the one reply a callback has just taken, so a Reply keeps hiredis's tree
// itself instead of a deep copy. The callback and the free run on the same thread, back to back.
thread_local void* t_taken_reply = nullptr;

void FreeUnlessTaken(void* reply) {
  if (reply != nullptr && reply == t_taken_reply) {
    t_taken_reply = nullptr;
    return;
  }
  FreePooledReply(reply);
}

// Takes `raw`, which hiredis would free once the running callback returns.
std::shared_ptr<redisReply> TakeReply(void* raw) {
  t_taken_reply = raw;
  return std::shared_ptr<redisReply>(static_cast<redisReply*>(raw), &FreePooledReply);
}

// An async context's reader builds pooled replies (reply_pool.h), freed by FreeUnlessTaken.
void LetCallbacksTakeReplies(redisAsyncContext* ac) {
  static redisReplyObjectFunctions functions = PooledReplyFunctions(&FreeUnlessTaken);
  ac->c.reader->fn = &functions;
}

// The replies one fiber waits for. Shared by the waiting fiber and hiredis's callbacks, which
// always come (a reply, or null when the connection goes): whoever is last frees it, so a fiber
// that stops waiting (interrupted) leaves nothing dangling.
struct Batch {
  size_t refs = 0;
  size_t next = 0;
  bool lost = false;
  green::Fiber* waiter = nullptr;
  std::vector<std::shared_ptr<redisReply>> replies;

  void Release() {
    if (--refs == 0) delete this;
  }
};

void OnReply(redisAsyncContext* /*ac*/, void* raw, void* priv) {
  auto* batch = static_cast<Batch*>(priv);
  if (raw == nullptr) {
    batch->lost = true;
  } else if (batch->next < batch->replies.size()) {
    batch->replies[batch->next] = TakeReply(raw);
  }
  ++batch->next;
  if (batch->next >= batch->replies.size() && batch->waiter != nullptr) green::Wake(batch->waiter);
  batch->Release();
}

}  // namespace

struct Connection::AsyncConnect {
  green::Event done;  ///< the whole attempt (all addresses, AUTH, SELECT) is over
  green::Fiber* connector = nullptr;
  bool address_done = false;  ///< hiredis answered for the address being tried
  int status = REDIS_ERR;
  std::string error;
};

bool Connection::ConnectingInAnotherFiber() const {
  return connecting_ && connecting_->connector != green::CurrentFiber();
}

void Connection::OnAsyncConnect(const redisAsyncContext* ac, int status) {
  auto* self = static_cast<Connection*>(ac->data);
  if (self == nullptr || !self->connecting_) return;
  self->connecting_->status = status;
  if (status != REDIS_OK) {
    self->connecting_->error = ac->errstr;
    self->actx_ = nullptr;  // hiredis frees a context whose connect failed
  }
  self->connecting_->address_done = true;
  green::Wake(self->connecting_->connector);
}

void Connection::OnAsyncDisconnect(const redisAsyncContext* ac, int /*status*/) {
  auto* self = static_cast<Connection*>(ac->data);
  if (self != nullptr && self->actx_ == ac) self->actx_ = nullptr;  // hiredis frees it next
}

void Connection::ConnectAsync() {
  if (connecting_) {
    if (connecting_->connector == green::CurrentFiber()) {
      // The connecting fiber's own AUTH/SELECT found the new connection gone.
      throw ConnectionError("Redis connection (" + role_ + ") lost while connecting");
    }
    std::shared_ptr<AsyncConnect> attempt = connecting_;  // another fiber's: wait for it
    attempt->done.Wait();
    if (actx_ == nullptr) throw ConnectionError(attempt->error);
    return;
  }
  auto attempt = std::make_shared<AsyncConnect>();
  attempt->connector = green::CurrentFiber();
  connecting_ = attempt;
  struct Clear {  // however the attempt ends, the fibers waiting for it go on
    Connection* c;
    AsyncConnect* a;
    ~Clear() {
      c->connecting_.reset();
      if (!a->done.is_set()) a->done.Set();
    }
  } clear{this, attempt.get()};
  uv_loop_t* loop = green::Scheduler::Current()->loop();
  const std::vector<std::string> addresses =
      url_.unix_path.empty() ? ResolveAll(host_) : std::vector<std::string>{url_.unix_path};
  std::string last_error = "cannot connect";
  for (const std::string& address : addresses) {
    redisAsyncContext* ac = url_.unix_path.empty() ? redisAsyncConnect(address.c_str(), port_)
                                                   : redisAsyncConnectUnix(address.c_str());
    if (ac == nullptr) throw ConnectionError("out of memory creating a Redis context");
    const std::string where = url_.unix_path.empty()
                                  ? host_ + ":" + std::to_string(port_)
                                  : url_.unix_path;
    if (ac->err != 0) {
      last_error = "Error connecting to " + where + ": " + ac->errstr;
      redisAsyncFree(ac);
      continue;
    }
    ac->data = this;
    LetCallbacksTakeReplies(ac);
    if (!AttachToLoop(ac, loop)) {
      ac->data = nullptr;
      redisAsyncFree(ac);
      throw ConnectionError("could not attach the Redis connection to the event loop");
    }
    redisAsyncSetConnectCallback(ac, &Connection::OnAsyncConnect);
    redisAsyncSetDisconnectCallback(ac, &Connection::OnAsyncDisconnect);
    actx_ = ac;
    attempt->connector = green::CurrentFiber();
    attempt->address_done = false;
    attempt->status = REDIS_ERR;
    // A refused connect calls back through the poll error (uv_attach.h); the deadline bounds
    // a connect nobody answers.
    if (!green::WaitFor([&] { return attempt->address_done; }, std::chrono::seconds(2))) {
      Close();
      last_error = "Error connecting to " + where + ": timed out";
      continue;
    }
    if (attempt->status == REDIS_OK && actx_ != nullptr) break;
    last_error = "Error connecting to " + where + ": " + attempt->error;
    actx_ = nullptr;
  }
  if (actx_ == nullptr) {
    attempt->error = last_error;
    throw ConnectionError(last_error);
  }
  if (url_.unix_path.empty()) redisEnableKeepAlive(&actx_->c);  // TCP only, as above
  // AUTH and SELECT go first; fibers that asked meanwhile wait on `attempt` until they are done.
  try {
    AfterConnect();
  } catch (const ConnectionError& e) {
    attempt->error = e.what();
    throw;
  }
}

std::vector<Reply> Connection::PipelineAsync(
    const std::vector<std::vector<std::string_view>>& commands) {
  auto* batch = new Batch;
  batch->replies.resize(commands.size());
  batch->refs = 1;  // the waiting fiber's reference
  for (const auto& argv : commands) {
    const std::string_view command = FormatInThreadBuffer(argv, url_.key_prefix);
    if (actx_ == nullptr ||
        redisAsyncFormattedCommand(actx_, &OnReply, batch, command.data(), command.size()) !=
            REDIS_OK) {
      batch->lost = true;
      break;
    }
    ++batch->refs;
  }
  batch->waiter = green::CurrentFiber();
  bool in_time = true;
  try {
    in_time = green::WaitFor(
        [batch] { return batch->lost || batch->next >= batch->replies.size(); },
        std::chrono::duration<double>(reply_timeout_) + std::chrono::seconds(1));
  } catch (...) {
    batch->waiter = nullptr;
    batch->Release();
    throw;
  }
  batch->waiter = nullptr;
  if (batch->lost || !in_time) {
    batch->Release();
    Fail(in_time ? "Redis connection (" + role_ + ") lost"
                 : "Redis connection (" + role_ + ") timed out waiting for a reply");
  }
  std::vector<Reply> replies;
  replies.reserve(commands.size());
  for (auto& raw : batch->replies) {
    Reply r;
    r.root_ = std::move(raw);
    r.node_ = r.root_.get();
    replies.push_back(std::move(r));
  }
  batch->Release();
  for (const Reply& r : replies) ThrowIfDemoted(r);
  return replies;
}

// ----- write-behind on the async engine --------------------------------------------------------
// A deferred command is queued on the socket with a callback and the fiber goes on after one
// loop turn (its bytes are written by then: an early ack is out before the task runs), without
// waiting for the reply. The commands stay in deferred_ until their replies come, in order (a
// connection answers in order, and only deferred commands use this callback), so those still
// unanswered when the connection drops are sent again, in order, once it is back.
namespace {
constexpr size_t kMaxAsyncUnanswered = 4096;  // a writer waits for replies beyond this
}  // namespace

void Connection::OnDeferredReply(redisAsyncContext* /*ac*/, void* raw, void* priv) {
  if (raw == nullptr) return;  // the connection went: the command stays, sent again later
  auto* self = static_cast<Connection*>(priv);
  const auto* r = static_cast<const redisReply*>(raw);
  ++self->deferred_answered_;
  if (self->deferred_.empty()) return;
  if (r->type != REDIS_REPLY_ERROR) {
    self->deferred_.PopFront();
    return;
  }
  const std::string command(self->deferred_.front());
  self->deferred_.PopFront();
  const std::string_view error(r->str, r->len);
  if (error.starts_with("NOSCRIPT")) {
    const std::string eval = self->EvalInstead(command);
    if (!eval.empty()) {
      self->deferred_.PushBack(eval);  // Redis lost its script cache: as EVAL
      if (self->actx_ != nullptr) self->SendDeferredAsync(self->deferred_.size() - 1);
      return;
    }
  }
  if (self->url_.is_sentinel() && error.starts_with("READONLY")) {
    // A failover demoted this server: reconnect (to the new master) and send it again there.
    self->deferred_.PushFront(command);
    self->demoted_ = true;
    return;
  }
  self->LogRefusedWrite(command, error);
}

std::string Connection::EvalInstead(std::string_view command) const {
  const std::vector<std::string> args = CommandArgs(command);
  if (args.size() < 2 || args[0] != "EVALSHA") return {};
  const auto source = script_sources_.find(args[1]);
  if (source == script_sources_.end()) return {};
  std::vector<std::string_view> argv(args.begin(), args.end());
  argv[0] = "EVAL";
  argv[1] = source->second;
  std::string eval;
  AppendResp(argv, "", &eval);  // its keys carry the prefix already
  return eval;
}

void Connection::LogRefusedWrite(std::string_view command, std::string_view error) const {
  const std::vector<std::string> argv = CommandArgs(command);
  spdlog::error("Redis ({}) refused a write ({}): {}", role_, argv.empty() ? "" : argv[0],
                error);
}

void Connection::SendDeferredAsync(size_t from) {
  for (size_t i = from; i < deferred_.size(); ++i) {
    const std::string_view bytes = deferred_[i];
    if (actx_ == nullptr ||
        redisAsyncFormattedCommand(actx_, &Connection::OnDeferredReply, this, bytes.data(),
                                   bytes.size()) != REDIS_OK) {
      return;  // lost meanwhile: everything from here goes again after the reconnect
    }
  }
}

template <class Commands>
void Connection::DeferAsync(const Commands& commands) {
  while (deferred_.size() >= kMaxAsyncUnanswered && actx_ != nullptr) {
    green::SleepFor(std::chrono::milliseconds(1));  // Redis is behind: let it catch up
  }
  if (actx_ == nullptr) Connect();
  const size_t from = deferred_.size();
  for (const auto& argv : commands) deferred_.PushCommand(argv, url_.key_prefix);
  SendDeferredAsync(from);
  green::Yield();  // one loop turn: the bytes are on the socket when the caller goes on
}

void Connection::FlushAsync(const std::atomic<bool>* stop) {
  uint64_t answered = deferred_answered_;
  auto last_answer = std::chrono::steady_clock::now();
  while (!deferred_.empty()) {
    if (stop != nullptr && stop->load()) throw Stopped();
    if (deferred_answered_ != answered) {
      answered = deferred_answered_;
      last_answer = std::chrono::steady_clock::now();
    } else if (actx_ != nullptr &&
               std::chrono::steady_clock::now() - last_answer > reply_timeout_) {
      // A connection that answers nothing for a reply timeout is as good as lost (as for a
      // blocking read): drop it; the reconnect sends what is unanswered again.
      spdlog::warn("Redis connection ({}) answered nothing for {} ms: reconnecting", role_,
                      reply_timeout_.count());
      Close();
      last_answer = std::chrono::steady_clock::now();
    }
    if (demoted_ || actx_ == nullptr) {
      Retrying(
          [&](Connection& c) {
            c.Connect();  // sends what is unanswered again
            return 0;
          },
          stop);
      continue;
    }
    green::SleepFor(std::chrono::milliseconds(1));
  }
}

Reply Connection::CallRetrying(const std::vector<std::string_view>& argv,
                               const std::atomic<bool>* stop) {
  return Retrying([&](Connection& c) { return c.Call(argv); }, stop);
}

}  // namespace cw::redis

// The async engine's event hooks (uv_attach.h) against fake servers, no Redis needed: queued
// commands go out within the loop turn, a write larger than the socket takes waits for it to
// drain, and a connection reset is noticed at once.
#include "redis/uv_attach.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include "green/waits.h"
#include "redis/connection.h"

namespace cw::redis {
namespace {

// A listening socket on a free loopback port, for the fake servers below.
class LoopbackListener {
 public:
  LoopbackListener() {
    fd_ = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    EXPECT_EQ(bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
    EXPECT_EQ(listen(fd_, 4), 0);
    socklen_t len = sizeof addr;
    getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len);
    port_ = ntohs(addr.sin_port);
  }
  ~LoopbackListener() { close(fd_); }
  LoopbackListener(const LoopbackListener&) = delete;
  LoopbackListener& operator=(const LoopbackListener&) = delete;
  int port() const { return port_; }

 protected:
  int fd_ = -1;

 private:
  int port_ = 0;
};

// Serve() accepts one connection, reads what comes, then closes with SO_LINGER 0: the client
// gets a reset (as from a Redis killed with commands unread), not an orderly FIN.
class ResettingServer : public LoopbackListener {
 public:
  void Serve() {
    const int client = accept(fd_, nullptr, nullptr);
    if (client < 0) return;
    char buf[256];
    got_ = read(client, buf, sizeof buf) > 0;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));  // let more arrive unread
    linger reset{1, 0};
    setsockopt(client, SOL_SOCKET, SO_LINGER, &reset, sizeof reset);
    close(client);
  }
  bool got_command() const { return got_; }

 private:
  bool got_ = false;
};

// Accepts one connection and counts the bytes it receives (never answers), after an optional
// pause in which it reads nothing (the client's socket buffers fill up).
class CountingServer : public LoopbackListener {
 public:
  // Reads until `expected` bytes came, the client closed, or 10 s passed.
  void Serve(size_t expected, std::chrono::milliseconds pause) {
    const int client = accept(fd_, nullptr, nullptr);
    if (client < 0) return;
    std::this_thread::sleep_for(pause);
    timeval tick{0, 100000};
    setsockopt(client, SOL_SOCKET, SO_RCVTIMEO, &tick, sizeof tick);
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    std::vector<char> buf(1 << 16);
    while (received_.load() < expected && std::chrono::steady_clock::now() < deadline) {
      const ssize_t n = read(client, buf.data(), buf.size());
      if (n == 0) break;
      if (n > 0) received_ += static_cast<size_t>(n);
    }
    close(client);
  }
  size_t received() const { return received_.load(); }

 private:
  std::atomic<size_t> received_{0};
};

Url LoopbackUrl(int port) {
  Url url;
  url.host = "127.0.0.1";
  url.port = port;
  return url;
}

// RESP size of SET key value.
size_t SetCommandBytes(const std::string& key, const std::string& value) {
  auto bulk = [](size_t n) { return std::to_string(n).size() + 5 + n; };  // $n\r\n...\r\n
  return 4 /* *3\r\n */ + bulk(3) + bulk(key.size()) + bulk(value.size());
}

TEST(UvAttach, DeferredCommandsAreOnTheWireWhenTheWriterGoesOn) {
  CountingServer server;
  const std::string value(100, 'v');
  const size_t expected = 3 * SetCommandBytes("k", value);
  std::thread serving([&] { server.Serve(expected, std::chrono::milliseconds(0)); });
  Connection conn(LoopbackUrl(server.port()), "flush");
  green::Scheduler s;
  size_t seen_after_defer = 0;
  s.Spawn([&] {
    conn.Connect();
    // Three writes in one loop turn (three fibers' worth): one flush at the end of the turn.
    conn.Defer({{"SET", "k", value}, {"SET", "k", value}});
    conn.Defer({{"SET", "k", value}});
    for (int i = 0; i < 200 && server.received() < expected; ++i) {
      green::SleepFor(std::chrono::milliseconds(5));
    }
    seen_after_defer = server.received();
    conn.Close();
  });
  s.Run();
  serving.join();
  EXPECT_EQ(seen_after_defer, expected);
}

TEST(UvAttach, AWriteLargerThanTheSocketTakesWaitsForItToDrain) {
  CountingServer server;
  const std::string value(8 << 20, 'v');  // far more than loopback socket buffers hold
  const size_t expected = SetCommandBytes("k", value);
  // The server reads nothing for 200 ms: the first flush fills the socket, and the rest must
  // go out when it drains (the poll waits for writability then).
  std::thread serving([&] { server.Serve(expected, std::chrono::milliseconds(200)); });
  Connection conn(LoopbackUrl(server.port()), "drain");
  green::Scheduler s;
  s.Spawn([&] {
    conn.Connect();
    conn.Defer({{"SET", "k", value}});
    for (int i = 0; i < 1000 && server.received() < expected; ++i) {
      green::SleepFor(std::chrono::milliseconds(5));
    }
    conn.Close();
  });
  s.Run();
  serving.join();
  EXPECT_EQ(server.received(), expected);
}

TEST(UvAttach, AResetConnectionFailsTheWaitingCallAtOnce) {
  ResettingServer server;
  std::thread serving([&] { server.Serve(); });
  Url url;
  url.host = "127.0.0.1";
  url.port = server.port();
  Connection conn(url, "reset");
  conn.set_reply_timeout(std::chrono::milliseconds(5000));
  std::string error;
  green::Scheduler s;
  s.Spawn([&] {
    try {
      conn.Pipeline({{"PING"}, {"SET", "k", std::string(200000, 'x')}});  // some left unread
    } catch (const ConnectionError& e) {
      error = e.what();
    }
  });
  const auto start = std::chrono::steady_clock::now();
  s.Run();
  const auto took = std::chrono::steady_clock::now() - start;
  serving.join();
  EXPECT_TRUE(server.got_command());
  // Before: the poll error was dropped and the call waited out its reply timeout (5 s).
  EXPECT_NE(error.find("lost"), std::string::npos) << error;
  EXPECT_LT(took, std::chrono::seconds(2));
  EXPECT_FALSE(conn.connected());
}

}  // namespace
}  // namespace cw::redis

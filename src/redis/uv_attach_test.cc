// The async engine notices a connection reset at once (uv_attach.h), against a fake server
// that resets the connection after reading a command: no Redis needed.
#include "redis/uv_attach.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <string>
#include <thread>

#include "green/waits.h"
#include "redis/connection.h"

namespace cw::redis {
namespace {

// Listens on a free loopback port; Serve() accepts one connection, reads what comes, then
// closes with SO_LINGER 0: the client gets a reset (as from a Redis killed with commands
// unread), not an orderly FIN.
class ResettingServer {
 public:
  ResettingServer() {
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
  ~ResettingServer() { close(fd_); }
  int port() const { return port_; }

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
  int fd_ = -1;
  int port_ = 0;
  bool got_ = false;
};

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

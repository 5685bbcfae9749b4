// Test-only: a tiny HTTP/1.1 server on 127.0.0.1 for the HTTP client's tests. One thread per
// connection, keep-alive, answers every request after `delay` with JSON
// {"n": <request number>, "method": "...", "body_bytes": N}. It counts connections, so tests can
// see libcurl reuse them. (The client under test is libcurl; this only has to be simple.)
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace cw::testing {

class HttpServer {
 public:
  explicit HttpServer(std::chrono::milliseconds delay = std::chrono::milliseconds(0))
      : delay_(delay) {
    listen_fd_ = socket(AF_INET, SOCK_STREAM, 0);
    int one = 1;
    setsockopt(listen_fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
    listen(listen_fd_, 1024);
    socklen_t len = sizeof addr;
    getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&addr), &len);
    port_ = ntohs(addr.sin_port);
    acceptor_ = std::thread([this] { Accept(); });
  }
  ~HttpServer() {
    stop_ = true;
    shutdown(listen_fd_, SHUT_RDWR);
    close(listen_fd_);
    acceptor_.join();
    std::lock_guard lock(mutex_);
    for (int fd : open_) shutdown(fd, SHUT_RDWR);
    for (std::thread& t : workers_) t.join();
  }

  std::string url(const std::string& path = "/") const {
    return "http://127.0.0.1:" + std::to_string(port_) + path;
  }
  int connections() const { return connections_.load(); }
  int requests() const { return requests_.load(); }

 private:
  void Accept() {
    while (!stop_) {
      const int fd = accept(listen_fd_, nullptr, nullptr);
      if (fd < 0) continue;
      ++connections_;
      std::lock_guard lock(mutex_);
      open_.push_back(fd);
      workers_.emplace_back([this, fd] { Serve(fd); });
    }
  }

  void Serve(int fd) {
    std::string buffer;
    char chunk[4096];
    for (;;) {
      size_t end = buffer.find("\r\n\r\n");
      while (end == std::string::npos) {
        const ssize_t n = read(fd, chunk, sizeof chunk);
        if (n <= 0) {
          close(fd);
          return;
        }
        buffer.append(chunk, static_cast<size_t>(n));
        end = buffer.find("\r\n\r\n");
      }
      const std::string head = buffer.substr(0, end);
      size_t body_len = 0;
      if (const size_t cl = head.find("Content-Length: "); cl != std::string::npos) {
        body_len = std::stoul(head.substr(cl + 16));
      }
      while (buffer.size() < end + 4 + body_len) {
        const ssize_t n = read(fd, chunk, sizeof chunk);
        if (n <= 0) {
          close(fd);
          return;
        }
        buffer.append(chunk, static_cast<size_t>(n));
      }
      buffer.erase(0, end + 4 + body_len);
      const int n = ++requests_;
      std::this_thread::sleep_for(delay_);
      const std::string method = head.substr(0, head.find(' '));
      const std::string body = "{\"n\": " + std::to_string(n) + ", \"method\": \"" + method +
                               "\", \"body_bytes\": " + std::to_string(body_len) + "}";
      const std::string response = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                                   "X-Test: yes\r\nContent-Length: " +
                                   std::to_string(body.size()) + "\r\n\r\n" + body;
      if (send(fd, response.data(), response.size(), MSG_NOSIGNAL) < 0) {
        close(fd);
        return;
      }
    }
  }

  std::chrono::milliseconds delay_;
  int listen_fd_ = -1;
  int port_ = 0;
  std::atomic<bool> stop_{false};
  std::atomic<int> connections_{0};
  std::atomic<int> requests_{0};
  std::thread acceptor_;
  std::mutex mutex_;
  std::vector<int> open_;
  std::vector<std::thread> workers_;
};

}  // namespace cw::testing

// `--http HOST:PORT`: a small HTTP listener on a thread of its own (libmicrohttpd), so probes
// and scrapes are answered whatever the pool is doing:
//   GET /healthz  200 "ok" while the worker's loop turns and Redis answers, 503 otherwise
//                 (a JSON body says which check failed);
//   GET /metrics  the Prometheus text exposition (monitoring/metrics.h).
// Anything else is 404, methods other than GET/HEAD 405.
//
// libmicrohttpd (GNU, Debian's libmicrohttpd-dev) does the HTTP: request parsing, keep-alive,
// slow or malformed clients, limits. Hand-written parsing would be the riskiest code in the
// worker for the least gain (docs/operations.md).
#pragma once

#include <functional>
#include <string>

struct MHD_Daemon;

namespace cw::monitoring {

struct Health {
  bool ok = false;
  std::string body;  ///< JSON describing each check
};

struct HttpHandlers {
  std::function<Health()> health;
  std::function<std::string()> metrics;
};

class HttpListener {
 public:
  /// Listens on `address` ("127.0.0.1:9808", "0.0.0.0:9808", "[::1]:9808"; port 0 picks a
  /// free one). Throws std::runtime_error when it cannot.
  HttpListener(const std::string& address, HttpHandlers handlers);
  ~HttpListener();  ///< stops listening; handlers are not called after it returns
  HttpListener(const HttpListener&) = delete;
  HttpListener& operator=(const HttpListener&) = delete;

  int port() const { return port_; }
  const std::string& host() const { return host_; }

  /// Splits "host:port" / "[v6]:port". Throws std::invalid_argument.
  static std::pair<std::string, int> ParseAddress(const std::string& address);

  // For libmicrohttpd's C callback only.
  const HttpHandlers& handlers() const { return handlers_; }

 private:
  HttpHandlers handlers_;
  std::string host_;
  int port_ = 0;
  MHD_Daemon* daemon_ = nullptr;
};

}  // namespace cw::monitoring

#include "monitoring/http_listener.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <cstring>
#include <stdexcept>

#include <microhttpd.h>

namespace cw::monitoring {
namespace {

MHD_Result Send(MHD_Connection* connection, unsigned status, const std::string& body,
                const char* content_type) {
  MHD_Response* response = MHD_create_response_from_buffer(
      body.size(), const_cast<char*>(body.data()), MHD_RESPMEM_MUST_COPY);
  if (response == nullptr) return MHD_NO;
  MHD_add_response_header(response, "Content-Type", content_type);
  MHD_add_response_header(response, "Cache-Control", "no-store");
  const MHD_Result queued = MHD_queue_response(connection, status, response);
  MHD_destroy_response(response);
  return queued;
}

MHD_Result Answer(void* cls, MHD_Connection* connection, const char* url, const char* method,
                  const char* /*version*/, const char* /*upload_data*/,
                  size_t* upload_data_size, void** request_state) {
  // libmicrohttpd calls once for the headers, then for the body; GET has none, but a client
  // may send one anyway: answer on the first call and let the library drop the rest.
  (void)request_state;
  (void)upload_data_size;
  const auto* self = static_cast<const HttpListener*>(cls);
  const bool get = std::strcmp(method, MHD_HTTP_METHOD_GET) == 0 ||
                   std::strcmp(method, MHD_HTTP_METHOD_HEAD) == 0;
  const std::string path(url);
  if (path != "/healthz" && path != "/metrics") {
    return Send(connection, MHD_HTTP_NOT_FOUND, "not found: try /healthz or /metrics\n",
                "text/plain; charset=utf-8");
  }
  if (!get) {
    return Send(connection, MHD_HTTP_METHOD_NOT_ALLOWED, "use GET\n",
                "text/plain; charset=utf-8");
  }
  try {
    if (path == "/healthz") {
      const Health health = self->handlers().health();
      return Send(connection, health.ok ? MHD_HTTP_OK : MHD_HTTP_SERVICE_UNAVAILABLE,
                  health.body + "\n", "application/json");
    }
    return Send(connection, MHD_HTTP_OK, self->handlers().metrics(),
                "text/plain; version=0.0.4; charset=utf-8");
  } catch (const std::exception& e) {
    return Send(connection, MHD_HTTP_INTERNAL_SERVER_ERROR, std::string(e.what()) + "\n",
                "text/plain; charset=utf-8");
  }
}

}  // namespace

std::pair<std::string, int> HttpListener::ParseAddress(const std::string& address) {
  std::string host;
  std::string port;
  if (!address.empty() && address.front() == '[') {
    const size_t close = address.find(']');
    if (close == std::string::npos || close + 1 >= address.size() || address[close + 1] != ':') {
      throw std::invalid_argument("bad --http address '" + address + "': use [v6]:PORT");
    }
    host = address.substr(1, close - 1);
    port = address.substr(close + 2);
  } else {
    const size_t colon = address.rfind(':');
    if (colon == std::string::npos) {
      throw std::invalid_argument("bad --http address '" + address + "': use HOST:PORT");
    }
    host = address.substr(0, colon);
    port = address.substr(colon + 1);
  }
  char* end = nullptr;
  const long n = std::strtol(port.c_str(), &end, 10);
  if (host.empty() || port.empty() || *end != '\0' || n < 0 || n > 65535) {
    throw std::invalid_argument("bad --http address '" + address + "': use HOST:PORT");
  }
  return {host, static_cast<int>(n)};
}

HttpListener::HttpListener(const std::string& address, HttpHandlers handlers)
    : handlers_(std::move(handlers)) {
  auto [host, port] = ParseAddress(address);
  host_ = host;
  sockaddr_storage storage{};
  unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL;
  if (host.find(':') != std::string::npos) {
    auto* in6 = reinterpret_cast<sockaddr_in6*>(&storage);
    in6->sin6_family = AF_INET6;
    in6->sin6_port = htons(static_cast<uint16_t>(port));
    if (inet_pton(AF_INET6, host.c_str(), &in6->sin6_addr) != 1) {
      throw std::runtime_error("--http: '" + host + "' is not an IPv6 address");
    }
    flags |= MHD_USE_IPv6;
  } else {
    auto* in4 = reinterpret_cast<sockaddr_in*>(&storage);
    in4->sin_family = AF_INET;
    in4->sin_port = htons(static_cast<uint16_t>(port));
    if (host == "localhost") host = "127.0.0.1";
    if (inet_pton(AF_INET, host.c_str(), &in4->sin_addr) != 1) {
      throw std::runtime_error("--http: '" + host + "' is not an IPv4 address");
    }
  }
  daemon_ = MHD_start_daemon(flags, static_cast<uint16_t>(port), nullptr, nullptr, &Answer, this,
                             MHD_OPTION_SOCK_ADDR, reinterpret_cast<sockaddr*>(&storage),
                             MHD_OPTION_CONNECTION_LIMIT, 64u, MHD_OPTION_CONNECTION_TIMEOUT,
                             10u, MHD_OPTION_END);
  if (daemon_ == nullptr) {
    throw std::runtime_error("--http: cannot listen on " + address + ": " + std::strerror(errno));
  }
  const MHD_DaemonInfo* info = MHD_get_daemon_info(daemon_, MHD_DAEMON_INFO_BIND_PORT);
  port_ = info != nullptr ? info->port : port;
}

HttpListener::~HttpListener() {
  if (daemon_ != nullptr) MHD_stop_daemon(daemon_);
}

}  // namespace cw::monitoring

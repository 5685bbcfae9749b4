#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <string>

#include <gtest/gtest.h>

#include "monitoring/http_listener.h"
#include "monitoring/metrics.h"

namespace cw::monitoring {
namespace {

TEST(Metrics, CountersAndHistogramInTheTextFormat) {
  Metrics m;
  m.Count(TaskEvent::kReceived, "tasks.add");
  m.Count(TaskEvent::kReceived, "tasks.add");
  m.Count(TaskEvent::kSucceeded, "tasks.add");
  m.Count(TaskEvent::kFailed, "tasks.\"odd\"\nname");
  m.ObserveRuntime("tasks.add", 0.003);
  m.ObserveRuntime("tasks.add", 0.7);
  m.ObserveRuntime("tasks.add", 1000);  // beyond the last bound: only +Inf counts it
  EXPECT_EQ(m.count(TaskEvent::kReceived, "tasks.add"), 2);
  EXPECT_EQ(m.count(TaskEvent::kRetried, "tasks.add"), 0);
  const std::string text = m.Render({{"cworker_tasks_active", "Running.", "gauge", 3}});
  EXPECT_NE(text.find("# TYPE cworker_tasks_received_total counter\n"
                      "cworker_tasks_received_total{name=\"tasks.add\"} 2\n"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("# TYPE cworker_tasks_retried_total counter\n# HELP"), std::string::npos)
      << "an empty family still has its HELP and TYPE";
  EXPECT_NE(text.find("cworker_tasks_failed_total{name=\"tasks.\\\"odd\\\"\\nname\"} 1\n"),
            std::string::npos);
  EXPECT_NE(text.find("cworker_task_runtime_seconds_bucket{name=\"tasks.add\",le=\"0.005\"} 1\n"),
            std::string::npos);
  EXPECT_NE(text.find("cworker_task_runtime_seconds_bucket{name=\"tasks.add\",le=\"1\"} 2\n"),
            std::string::npos);
  EXPECT_NE(text.find("cworker_task_runtime_seconds_bucket{name=\"tasks.add\",le=\"300\"} 2\n"
                      "cworker_task_runtime_seconds_bucket{name=\"tasks.add\",le=\"+Inf\"} 3\n"),
            std::string::npos);
  EXPECT_NE(text.find("cworker_task_runtime_seconds_count{name=\"tasks.add\"} 3\n"),
            std::string::npos);
  EXPECT_NE(text.find("# TYPE cworker_tasks_active gauge\ncworker_tasks_active 3\n"),
            std::string::npos);
}

TEST(HttpListener, ParsesAddresses) {
  EXPECT_EQ(HttpListener::ParseAddress("127.0.0.1:9808"), std::make_pair(std::string("127.0.0.1"), 9808));
  EXPECT_EQ(HttpListener::ParseAddress("[::1]:0"), std::make_pair(std::string("::1"), 0));
  EXPECT_THROW(HttpListener::ParseAddress("9808"), std::invalid_argument);
  EXPECT_THROW(HttpListener::ParseAddress("host:99999"), std::invalid_argument);
  EXPECT_THROW(HttpListener::ParseAddress("host:"), std::invalid_argument);
  EXPECT_THROW(HttpListener("not-an-ip:0", {}), std::runtime_error);
}

std::string Get(int port, const std::string& request) {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  inet_pton(AF_INET, "127.0.0.1", &addr.sin_addr);
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    close(fd);
    return "connect failed";
  }
  (void)!write(fd, request.data(), request.size());
  std::string out;
  char buf[4096];
  ssize_t n = 0;
  while ((n = read(fd, buf, sizeof buf)) > 0) out.append(buf, static_cast<size_t>(n));
  close(fd);
  return out;
}

TEST(HttpListener, ServesHealthAndMetricsOnAPortItPicked) {
  std::atomic<bool> healthy{true};
  HttpListener listener("127.0.0.1:0",
                        {[&] { return Health{healthy.load(), "{\"status\":\"x\"}"}; },
                         [] { return std::string("cworker_up 1\n"); }});
  ASSERT_GT(listener.port(), 0);
  const std::string close = "Connection: close\r\n\r\n";
  std::string r = Get(listener.port(), "GET /healthz HTTP/1.1\r\nHost: x\r\n" + close);
  EXPECT_EQ(r.rfind("HTTP/1.1 200", 0), 0u) << r;
  EXPECT_NE(r.find("application/json"), std::string::npos);
  healthy = false;
  r = Get(listener.port(), "GET /healthz HTTP/1.1\r\nHost: x\r\n" + close);
  EXPECT_EQ(r.rfind("HTTP/1.1 503", 0), 0u) << r;
  r = Get(listener.port(), "GET /metrics HTTP/1.1\r\nHost: x\r\n" + close);
  EXPECT_EQ(r.rfind("HTTP/1.1 200", 0), 0u) << r;
  EXPECT_NE(r.find("text/plain; version=0.0.4"), std::string::npos);
  EXPECT_NE(r.find("\r\n\r\ncworker_up 1\n"), std::string::npos) << r;
  r = Get(listener.port(), "GET /other HTTP/1.1\r\nHost: x\r\n" + close);
  EXPECT_EQ(r.rfind("HTTP/1.1 404", 0), 0u) << r;
  r = Get(listener.port(), "POST /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n" + close);
  EXPECT_EQ(r.rfind("HTTP/1.1 405", 0), 0u) << r;
  r = Get(listener.port(), "garbage\r\n\r\n");  // a broken request is answered or dropped, no crash
  r = Get(listener.port(), "GET /metrics HTTP/1.1\r\nHost: x\r\n" + close);
  EXPECT_EQ(r.rfind("HTTP/1.1 200", 0), 0u) << "still serving after a broken request";
}

}  // namespace
}  // namespace cw::monitoring

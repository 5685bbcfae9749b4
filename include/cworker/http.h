// A small HTTP client for tasks, built on libcurl.
//
// Blocks the calling thread in the solo and prefork pools. (The green pool, when it lands, makes
// these calls yield the task's fiber instead; the task code stays the same.)
#pragma once

#include <chrono>
#include <map>
#include <string>

namespace cw::http {

struct RequestOptions {
  std::chrono::milliseconds timeout{30000};  ///< whole request, connect included
  std::map<std::string, std::string> headers;
};

struct Response {
  long status = 0;  ///< HTTP status code
  std::map<std::string, std::string> headers;  ///< lower-cased names
  std::string body;
};

/// GET `url`. Throws cw::ConnectionError (Python's builtin) when no response arrives, or
/// cw::TimeoutError on timeout. An HTTP error status is not an exception: check `status`.
Response Get(const std::string& url, const RequestOptions& options = {});
/// POST `body` to `url` (Content-Type from options.headers, default application/json).
Response Post(const std::string& url, const std::string& body, const RequestOptions& options = {});

}  // namespace cw::http

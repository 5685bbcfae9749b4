// Redis commands from a task, on the worker's event loop.
//
//   cw::Json n = cw::redis::Command({"INCR", "visits"});
//
// In the green pool the tasks of a worker share one connection per URL, pipelined: thousands of
// concurrent tasks cost one socket, and each call parks only its fiber. In the solo pool (and
// outside a worker) the call blocks, on a connection kept per thread.
#pragma once

#include <string>
#include <vector>

#include <cworker/json.h>

namespace cw::redis {

/// Runs one command and returns its reply as JSON: bulk and status strings as strings, integers
/// as ints, nil as null, arrays as arrays. A Redis error reply throws
/// cw::TaskError("redis.exceptions", "ResponseError", ...); an unreachable server throws
/// cw::TaskError("redis.exceptions", "ConnectionError", ...), the exceptions redis-py raises.
/// `url` (redis://[:password@]host:port/db): empty means the broker the worker consumes from,
/// or $CELERY_BROKER_URL outside a worker.
Json Command(const std::vector<std::string>& argv, const std::string& url = "");

/// The URL Command() uses when given none (the worker sets it to its broker at start-up).
void SetDefaultUrl(const std::string& url);

}  // namespace cw::redis

// A Celery client for C++ programs: send tasks and canvases to Python workers and cworkers
// alike, and wait for their results, over the same Redis broker and backend.
//
//   cw::canvas::Producer producer({.broker = "redis://localhost:6379/0",
//                                  .backend = "redis://localhost:6379/1",
//                                  .routes = {{"pyside.*", "python"}}});
//   const std::string id = producer.Send(cw::Signature("pyside.double", {21}));
//   cw::Json record = producer.Wait(id, 10.0);   // {"status": "SUCCESS", "result": 42, ...}
//
// Messages are built by the same Applier a worker uses for chain steps and callbacks.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include <cworker/canvas.h>
#include <cworker/json.h>

#include "canvas/router.h"

namespace cw::canvas {

class Producer {
 public:
  struct Options {
    std::string broker = "redis://localhost:6379/0";
    std::string backend;  ///< empty: no results (Send works, Wait throws)
    std::vector<RouteRule> routes;
    std::string default_queue = "celery";
    int result_expires = 86400;  ///< for chord counters this producer creates
  };

  /// Throws std::invalid_argument for a malformed URL.
  explicit Producer(Options options);
  ~Producer();
  Producer(const Producer&) = delete;
  Producer& operator=(const Producer&) = delete;

  /// Sends `sig` at top level (no parent). Returns the id to wait on.
  std::string Send(const Signature& sig);

  /// Waits until the task's record is in a ready state (SUCCESS, FAILURE, REVOKED) and returns
  /// it. Throws std::runtime_error after `timeout_s` seconds.
  Json Wait(const std::string& task_id, double timeout_s);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace cw::canvas

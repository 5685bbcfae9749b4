// Celery's router, for the messages a worker sends itself (chain steps, callbacks, chord
// bodies, errbacks, tasks sent with TaskContext::Send): where does task <name> go?
//
// Precedence, as Celery's app.amqp.router with a task registered in the sending process:
//   1. explicit options of the signature: "queue" (a name), or "exchange"/"routing_key";
//   2. the task's own default queue, when this process registers the task (TaskOptions.queue);
//   3. task_routes: the first rule whose pattern matches the name (exact name, or a glob with
//      fnmatch's '*', '?' and '[...]', as Celery's glob routes);
//   4. task_default_queue.
// Priority comes from options.priority when given (0..9 kept as is; kombu clamps on publish).
#pragma once

#include <optional>
#include <string>
#include <vector>

#include <cworker/json.h>

namespace cw::canvas {

/// One task_routes entry: `pattern` (exact task name or glob) -> `queue`.
struct RouteRule {
  std::string pattern;
  std::string queue;
};

/// Where one message goes, in kombu's terms.
struct Route {
  std::string exchange;     ///< "" = the default exchange: routing_key is the queue name
  std::string routing_key;  ///< the queue for the default exchange
  std::optional<int> priority;
};

class Router {
 public:
  Router() = default;
  Router(std::vector<RouteRule> rules, std::string default_queue);

  /// Route for a message of task `task_name` sent with apply_async `options` (a JSON object,
  /// possibly empty). `task_queue` is the task's own default queue when this process
  /// registers the task (TaskOptions.queue), else empty.
  Route Resolve(const std::string& task_name, const Json& options,
                const std::string& task_queue = "") const;

  const std::vector<RouteRule>& rules() const { return rules_; }
  const std::string& default_queue() const { return default_queue_; }

 private:
  std::vector<RouteRule> rules_;
  std::string default_queue_ = "celery";
};

/// fnmatch.fnmatchcase: '*' any run, '?' one character, '[abc]'/'[!abc]'/'[a-z]' sets.
bool GlobMatch(const std::string& pattern, const std::string& text);

/// Parses "PATTERN=QUEUE" (the --route flag). Throws std::invalid_argument naming the text.
RouteRule ParseRouteFlag(const std::string& text);

}  // namespace cw::canvas

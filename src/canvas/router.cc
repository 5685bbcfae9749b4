#include "canvas/router.h"

#include <stdexcept>
#include <utility>

namespace cw::canvas {
namespace {

// One '[...]' set at pattern[*i] (just after '['); advances *i past ']'. Returns whether `c`
// matched; `*ok` false when the set is unterminated (then '[' is a literal, as fnmatch).
bool MatchSet(const std::string& pattern, size_t* i, char c, bool* ok) {
  size_t j = *i;
  bool negate = false;
  if (j < pattern.size() && pattern[j] == '!') {
    negate = true;
    ++j;
  }
  bool matched = false;
  bool first = true;
  while (j < pattern.size() && (first || pattern[j] != ']')) {
    first = false;
    if (j + 2 < pattern.size() && pattern[j + 1] == '-' && pattern[j + 2] != ']') {
      if (pattern[j] <= c && c <= pattern[j + 2]) matched = true;
      j += 3;
    } else {
      if (pattern[j] == c) matched = true;
      ++j;
    }
  }
  if (j >= pattern.size()) {
    *ok = false;
    return false;
  }
  *ok = true;
  *i = j + 1;
  return matched != negate;
}

bool Match(const std::string& pattern, size_t pi, const std::string& text, size_t ti) {
  while (pi < pattern.size()) {
    const char p = pattern[pi];
    if (p == '*') {
      while (pi < pattern.size() && pattern[pi] == '*') ++pi;
      if (pi == pattern.size()) return true;
      for (size_t k = ti; k <= text.size(); ++k) {
        if (Match(pattern, pi, text, k)) return true;
      }
      return false;
    }
    if (ti >= text.size()) return false;
    if (p == '?') {
      ++pi;
      ++ti;
      continue;
    }
    if (p == '[') {
      size_t next = pi + 1;
      bool ok = false;
      const bool matched = MatchSet(pattern, &next, text[ti], &ok);
      if (ok) {
        if (!matched) return false;
        pi = next;
        ++ti;
        continue;
      }
    }
    if (p != text[ti]) return false;
    ++pi;
    ++ti;
  }
  return ti == text.size();
}

const std::string* StringOption(const Json& options, const char* key) {
  const Json* v = options.is_object() ? options.Find(key) : nullptr;
  return v != nullptr && v->is_string() && !v->as_string().empty() ? &v->as_string() : nullptr;
}

}  // namespace

bool GlobMatch(const std::string& pattern, const std::string& text) {
  return Match(pattern, 0, text, 0);
}

RouteRule ParseRouteFlag(const std::string& text) {
  const size_t eq = text.rfind('=');
  if (eq == std::string::npos || eq == 0 || eq + 1 == text.size()) {
    throw std::invalid_argument("--route expects PATTERN=QUEUE, got '" + text + "'");
  }
  return RouteRule{text.substr(0, eq), text.substr(eq + 1)};
}

Router::Router(std::vector<RouteRule> rules, std::string default_queue)
    : rules_(std::move(rules)), default_queue_(std::move(default_queue)) {
  if (default_queue_.empty()) default_queue_ = "celery";
}

Route Router::Resolve(const std::string& task_name, const Json& options,
                      const std::string& task_queue) const {
  Route route;
  const Json* priority = options.is_object() ? options.Find("priority") : nullptr;
  if (priority != nullptr && priority->is_int()) route.priority = static_cast<int>(priority->as_int());

  const std::string* queue = StringOption(options, "queue");
  const std::string* exchange = StringOption(options, "exchange");
  const std::string* routing_key = StringOption(options, "routing_key");
  if (queue != nullptr) {
    // A queue named in options: Celery publishes to the default exchange with the queue's
    // name as routing key (what kombu's Redis transport LPUSHes to).
    route.routing_key = *queue;
    return route;
  }
  if (exchange != nullptr || routing_key != nullptr) {
    route.exchange = exchange != nullptr ? *exchange : "";
    route.routing_key = routing_key != nullptr ? *routing_key : default_queue_;
    return route;
  }
  if (!task_queue.empty()) {
    route.routing_key = task_queue;
    return route;
  }
  for (const RouteRule& rule : rules_) {
    if (rule.pattern == task_name || GlobMatch(rule.pattern, task_name)) {
      route.routing_key = rule.queue;
      return route;
    }
  }
  route.routing_key = default_queue_;
  return route;
}

}  // namespace cw::canvas

// Redis key names of kombu's transport and Celery's result backend.
#include "cw/protocol/keys.h"

#include <algorithm>

namespace cw::protocol {

int PriorityStep(int priority) {
  const int p = std::clamp(priority, 0, 9);
  int step = kPrioritySteps.front();
  for (const int s : kPrioritySteps) {
    if (s <= p) step = s;
  }
  return step;
}

std::string QueueKey(std::string_view queue, int priority) {
  const int step = PriorityStep(priority);
  std::string key(queue);
  if (step == 0) return key;
  key.append(kPrioritySep);
  key.append(std::to_string(step));
  return key;
}

std::string_view QueueOfKey(std::string_view key) {
  // A queue name may itself contain the separator; kombu strips only the last suffix.
  const size_t sep = key.rfind(kPrioritySep);
  return sep == std::string_view::npos ? key : key.substr(0, sep);
}

std::string BindingKey(std::string_view exchange) {
  std::string key(kBindingPrefix);
  key.append(exchange);
  return key;
}

std::string BindingRow(std::string_view routing_key, std::string_view pattern,
                       std::string_view queue) {
  std::string row(routing_key);
  row.append(kPrioritySep);
  row.append(pattern);
  row.append(kPrioritySep);
  row.append(queue);
  return row;
}

std::string TaskMetaKey(std::string_view task_id) {
  std::string key(kTaskMetaPrefix);
  key.append(task_id);
  return key;
}

std::string TasksetMetaKey(std::string_view group_id, std::string_view suffix) {
  std::string key(kTasksetMetaPrefix);
  key.append(group_id);
  key.append(suffix);
  return key;
}

}  // namespace cw::protocol

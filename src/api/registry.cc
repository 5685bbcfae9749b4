// The task registry, owned by libcworker.so so the worker and every dlopen'ed task library
// see one instance. Tasks arrive in two steps: static registrars (CW_TASK) add "pending"
// entries while a library loads; the loader then names them after the library's CW_MODULE.
#include <algorithm>
#include <stdexcept>

#include <cworker/task.h>

namespace cw {

Registry& Registry::Global() {
  static Registry registry;
  return registry;
}

void Registry::AddPending(TaskDescriptor task) { pending_.push_back(std::move(task)); }

std::vector<std::string> Registry::CommitModule(const std::string& module_name) {
  std::vector<std::string> names;
  std::vector<TaskDescriptor> pending;
  pending.swap(pending_);
  for (TaskDescriptor& task : pending) {
    task.name = task.options.name.empty() ? module_name + "." + task.short_name : task.options.name;
    names.push_back(task.name);
    Add(std::move(task));
  }
  return names;
}

void Registry::Add(TaskDescriptor task) {
  if (Find(task.name) != nullptr) {
    throw std::runtime_error("task '" + task.name + "' is registered twice");
  }
  tasks_.push_back(std::move(task));
}

const TaskDescriptor* Registry::Find(std::string_view name) const {
  for (const TaskDescriptor& task : tasks_) {
    if (task.name == name) return &task;
  }
  return nullptr;
}

std::vector<std::string> Registry::Names() const {
  std::vector<std::string> names;
  names.reserve(tasks_.size());
  for (const TaskDescriptor& task : tasks_) names.push_back(task.name);
  std::sort(names.begin(), names.end());
  return names;
}

void Registry::ClearForTest() {
  pending_.clear();
  tasks_.clear();
}

}  // namespace cw

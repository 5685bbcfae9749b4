// Every Redis key, channel and separator the Celery/kombu wire format uses. Wire strings are
// defined here and nowhere else (see docs/architecture.md).
#pragma once

#include <array>
#include <string>
#include <string_view>

namespace cw::protocol {

// ----- kombu Redis transport (broker database) ------------------------------------------------
inline constexpr std::string_view kPrioritySep = "\x06\x16";  ///< kombu's `sep`
inline constexpr std::array<int, 4> kPrioritySteps = {0, 3, 6, 9};
inline constexpr std::string_view kUnackedKey = "unacked";
inline constexpr std::string_view kUnackedIndexKey = "unacked_index";
inline constexpr std::string_view kUnackedMutexKey = "unacked_mutex";
inline constexpr std::string_view kBindingPrefix = "_kombu.binding.";
inline constexpr std::string_view kDefaultQueue = "celery";

/// Priority 0..9 (clamped) to kombu's step: the largest step <= priority.
int PriorityStep(int priority);
/// The list key of (queue, priority): "celery" for step 0, "celery\x06\x163" for priority 3-5.
std::string QueueKey(std::string_view queue, int priority);
/// The queue name of a list key: everything before the last separator.
std::string_view QueueOfKey(std::string_view key);
/// "_kombu.binding.<exchange>".
std::string BindingKey(std::string_view exchange);
/// A binding row "<routing_key>\x06\x16<pattern>\x06\x16<queue>".
std::string BindingRow(std::string_view routing_key, std::string_view pattern,
                       std::string_view queue);

// ----- Redis result backend ---------------------------------------------------------------------
inline constexpr std::string_view kTaskMetaPrefix = "celery-task-meta-";
inline constexpr std::string_view kTasksetMetaPrefix = "celery-taskset-meta-";
inline constexpr int kDefaultResultExpires = 86400;  ///< result_expires: one day

/// "celery-task-meta-<id>": the result key, also the channel clients wait on.
std::string TaskMetaKey(std::string_view task_id);
/// "celery-taskset-meta-<gid><suffix>": a saved group result (no suffix) or a chord counter
/// key (".j" reported parts, ".t" extra parts from add_to_chord, ".s" the header size).
std::string TasksetMetaKey(std::string_view group_id, std::string_view suffix = "");

}  // namespace cw::protocol

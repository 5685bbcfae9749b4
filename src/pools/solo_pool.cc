#include "pools/solo_pool.h"

#include <unistd.h>

#include <spdlog/spdlog.h>

namespace cw::pools {

exec::Outcome SoloPool::Call(const TaskDescriptor& task, const RequestInfo& request,
                             const Json& args, const Json& kwargs, Sender* sender,
                             const Limits& limits,
                             const StartHook& on_start) {
  if ((limits.hard || limits.soft) && !warned_) {
    warned_ = true;
    spdlog::warn("Time limits are not enforced by the solo pool (task {}); use -P prefork or "
                 "-P green",
                 request.task);
  }
  if (on_start) on_start(getpid());
  return exec::Execute(task, request, args, kwargs, sender);
}

}  // namespace cw::pools

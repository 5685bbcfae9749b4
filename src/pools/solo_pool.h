// -P solo: the consumer loop runs each task itself (Celery's solo pool).
#pragma once

#include "pools/pool.h"

namespace cw::pools {

class SoloPool : public Pool {
 public:
  std::string name() const override { return "solo"; }
  void Run(const std::function<void()>& consumer) override { consumer(); }
  void WaitForSlot() override {}
  void Start(std::function<void()> job, std::string /*label*/) override { job(); }
  void Drain() override {}
  int concurrency() const override { return 1; }
  /// Time limits cannot be enforced on the only thread there is: like Celery's solo pool, the
  /// call runs without them (a warning says so once).
  exec::Outcome Call(const TaskDescriptor& task, const RequestInfo& request, const Json& args,
                     const Json& kwargs, Sender* sender,
                     const Limits& limits, const StartHook& on_start) override;

 private:
  bool warned_ = false;
};

}  // namespace cw::pools

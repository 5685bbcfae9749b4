#include "pools/pool.h"

#include <stdexcept>

#include "pools/green_pool.h"
#include "pools/prefork_pool.h"
#include "pools/solo_pool.h"

namespace cw::pools {

std::unique_ptr<Pool> MakePool(const std::string& name, const PoolOptions& options) {
  if (name == "solo") return std::make_unique<SoloPool>();
  if (name == "green") return std::make_unique<GreenPool>(options);
  if (name == "prefork") return std::make_unique<PreforkPool>(options);
  throw std::invalid_argument("unknown pool '" + name + "'");
}

exec::Outcome TimeLimitExceededOutcome(double seconds) {
  // billiard.exceptions.TimeLimitExceeded(seconds), what Celery's pools store.
  return exec::FailureOutcome("billiard.exceptions", "TimeLimitExceeded",
                              Json::MakeArray({seconds}), false);
}

}  // namespace cw::pools

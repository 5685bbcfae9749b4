// The ids of revoked tasks, as Celery's worker keeps them (celery.worker.state.revoked, a
// LimitedSet): at most 50000 ids, each forgotten 3 hours after its revoke (Celery's
// CELERY_WORKER_REVOKES_MAX and CELERY_WORKER_REVOKE_EXPIRES environment variables change both,
// here too). With --statedb the set is also written to a file after every change and read
// back at start, so a restarted worker still honours earlier revokes (Celery's --statedb keeps
// them in a Python shelve; ours is a small JSON file, see docs/operations.md).
//
// Not thread-safe: the worker guards it with its control mutex.
#pragma once

#include <chrono>
#include <cstddef>
#include <map>
#include <string>
#include <vector>

namespace cw::worker {

class RevokedSet {
 public:
  using Clock = std::chrono::system_clock;

  RevokedSet(size_t max_size, std::chrono::seconds expires);
  /// Limits from Celery's environment variables, or its defaults (50000 ids, 10800 s).
  static RevokedSet FromEnvironment();

  void Add(const std::string& id, Clock::time_point when = Clock::now());
  bool Contains(const std::string& id, Clock::time_point now = Clock::now()) const;
  /// Live ids, oldest revoke first.
  std::vector<std::string> Ids(Clock::time_point now = Clock::now()) const;
  size_t size() const { return added_.size(); }

  /// Reads ids saved by Save (those not expired). A missing file is an empty set; a corrupt
  /// one is reported by throwing std::runtime_error.
  void Load(const std::string& path);
  /// Writes the set to `path` atomically (a temporary file renamed over it).
  void Save(const std::string& path) const;

 private:
  void Purge(Clock::time_point now);

  size_t max_size_;
  std::chrono::seconds expires_;
  std::map<std::string, Clock::time_point> added_;        ///< id -> when revoked
  std::multimap<Clock::time_point, std::string> order_;  ///< when revoked -> id
};

}  // namespace cw::worker

// Celery's Redis result backend, writer side: state records in "celery-task-meta-<id>",
// PUBLISHed on the key's channel so a waiting AsyncResult.get() wakes at once.
#pragma once

#include <atomic>
#include <optional>
#include <vector>
#include <stdexcept>
#include <string>

#include <cw/protocol/result_meta.h>

#include "redis/connection.h"

namespace cw::backend {

/// Redis answered the write with an error reply.
class StoreError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

class RedisBackend {
 public:
  /// `result_expires` seconds (0 = never expire), Celery's result_expires.
  RedisBackend(redis::Url url, int result_expires, const std::atomic<bool>* stop);

  const redis::Url& url() const { return conn_.url(); }

  /// Stores `meta` unless the stored state is already SUCCESS (Celery's rule: a duplicate
  /// execution never overwrites a success). Retries while Redis is unreachable; throws
  /// StoreError when Redis refuses the write. Returns false when
  /// the write was skipped because of that rule.
  bool Store(const protocol::ResultMeta& meta);
  /// Store() written behind (redis::Connection::Defer): no round trip; an error reply is
  /// logged when read. Same script, so SUCCESS stays sticky. Later calls on this backend reach
  /// Redis after it, in order.
  void StoreBehind(const protocol::ResultMeta& meta);
  /// Reads the replies of written-behind stores.
  void Flush();

  /// Celery's backend.set(): SETEX (SET when results never expire) and PUBLISH, no check.
  /// Used for the chord size ("celery-taskset-meta-<gid>.s") and saved group results.
  void SetAndPublish(const std::string& key, const std::string& value);

  /// What one chord header part saw when it reported (Celery's on_chord_part_return).
  struct ChordCount {
    long long ready = 0;            ///< members in ".j" after this report
    std::optional<long long> total;  ///< int(".s") + int(".t"); nullopt when ".s" is missing
  };
  /// Reports one finished header part of group `gid` exactly as Celery's Redis backend does:
  /// MULTI {ZADD .j <index or +inf> <member>; ZCOUNT .j; GET .t; GET .s; EXPIRE x3} EXEC.
  /// `member` is the JSON text of [1, task_id, state, result].
  ChordCount ChordPartReturn(const std::string& gid, std::optional<int64_t> group_index,
                             const std::string& member);
  /// The reported members in header order (ZRANGE .j 0 -1).
  std::vector<std::string> ChordMembers(const std::string& gid);
  /// Deletes ".j", ".t" and ".s" once the body was sent.
  void DeleteChordKeys(const std::string& gid);
  /// GET of any key on the backend database (saved group results, task records).
  std::optional<std::string> Get(const std::string& key);

 private:
  redis::Connection conn_;
  int result_expires_;
  const std::atomic<bool>* stop_;
};

}  // namespace cw::backend

// What happens after a task ends, in Celery's order (celery/app/trace.py and the Redis
// backend's mark_as_done / mark_as_failure / on_chord_part_return):
//   success: link callbacks (several plain ones as one new group) -> next chain step (the last
//            element of embed.chain, the rest passed on) -> [the worker stores SUCCESS with
//            `children`] -> chord part accounting;
//   failure: [the worker stores FAILURE] -> chord part accounting -> the same FAILURE for every
//            remaining chain step that has a task id (and their chords) -> errbacks, published
//            as one group with the failed task's id as argument;
//   revoked: chord part accounting with REVOKED, nothing else.
// The chord completer (whoever reports the last header part) joins the results in header
// order and sends the body, or stores ChordError on the body and runs the body's errbacks.
#pragma once

#include <string>

#include <cw/protocol/task_message.h>
#include <cworker/json.h>
#include <cworker/task.h>

#include "backend/redis_backend.h"
#include "canvas/applier.h"

namespace cw::canvas {

class Continuations {
 public:
  /// `backend` may be null (results disabled): chords then cannot be counted, and say so.
  Continuations(Applier* applier, backend::RedisBackend* backend);

  /// Sends the link callbacks and the next chain step for a task that returned `retval`.
  /// Returns the task's `children`: these plus whatever the task sent itself. Throws
  /// std::exception when a follow-up signature cannot be sent (malformed); Celery then fails
  /// the task.
  Json OnSuccess(const protocol::TaskMessage& msg, const RequestInfo& request,
                 const Json& retval);

  /// Chord part accounting for a task that ended in `state` (SUCCESS, FAILURE, REVOKED) with
  /// `result` (the value, or the exception dict). No-op unless the message carries a chord.
  void OnReady(const protocol::TaskMessage& msg, const RequestInfo& request,
               const std::string& state, const Json& result);

  /// After a FAILURE was stored (or not, when `store` is false because results are ignored):
  /// chord accounting, the FAILURE copied to the remaining chain steps, the errbacks.
  void OnFailure(const protocol::TaskMessage& msg, const RequestInfo& request,
                 const Json& exception, const std::string& traceback, bool store);

 private:
  void ChordPartReturn(const std::string& task_id, const std::string& group_id,
                       std::optional<int64_t> group_index, const Json& body,
                       const RequestInfo& request, const std::string& state, const Json& result);
  /// Celery's chord_error_from_stack: errbacks of the body, then FAILURE on the body's id.
  void ChordError(const Json& body, const std::string& message);
  /// Errbacks as Celery sends old-style ones: one group, args (task_id,).
  void SendErrbacks(const Json& errbacks, const std::string& task_id, const std::string& root_id);
  void Store(const std::string& task_id, const std::string& status, const Json& result,
             const std::string& traceback, const std::string& group_id,
             const std::string& parent_id);

  Applier* applier_;
  backend::RedisBackend* backend_;
};

}  // namespace cw::canvas

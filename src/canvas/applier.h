// Applying signatures the way Python's celery.canvas does, so that what a cworker sends (chain
// steps, link callbacks, errback groups, chord bodies, tasks sent with TaskContext::Send) is
// what a Python worker would have sent in its place:
//   plain task -> one message (app.send_task / amqp.as_task_v2 fields);
//   chain      -> frozen ids for every step, the first step published with the rest reversed
//                 in embed.chain (a group followed by a step becomes a chord, as in Python);
//   group      -> one message per member with the group id and group_index (nested groups
//                 flattened into the same group);
//   chord      -> the body frozen, header members carrying it in embed.chord, and the header
//                 size stored in celery-taskset-meta-<gid>.s just before the last member.
// All IO goes through a MessageSink, so the encoding is unit-tested without Redis.
#pragma once

#include <chrono>
#include <functional>
#include <string>

#include <cworker/canvas.h>
#include <cworker/json.h>
#include <cworker/task.h>

#include "canvas/router.h"

namespace cw::canvas {

/// Where applied messages go (Redis in the worker, a recorder in tests).
class MessageSink {
 public:
  virtual ~MessageSink() = default;
  /// Publishes one task envelope.
  virtual void Publish(const Route& route, int priority, const std::string& envelope) = 0;
  /// Celery's backend.set_chord_size: "celery-taskset-meta-<gid>.s" = size.
  virtual void SetChordSize(const std::string& group_id, int64_t size) = 0;
};

class Applier : public Sender {
 public:
  /// `origin` is the origin header ("gen<pid>@<host>"); `reply_to` the oid used when a
  /// signature carries none. `task_queue` returns a locally registered task's own queue.
  Applier(MessageSink* sink, Router router, std::string origin, std::string reply_to,
          std::function<std::string(const std::string&)> task_queue = {});

  /// cw::Sender: sends `sig` on behalf of `parent` and returns the id to wait on.
  std::string Apply(const Signature& sig, const RequestInfo* parent) override;

  /// What applying one signature produced.
  struct Applied {
    /// The result tuple Celery adds to the sender's `children`: [[id, null], null] for a
    /// task (a chain's first step), [[gid, null], [members...]] for a group or a chord header.
    Json child;
    std::string id;  ///< the id to wait on (a chain's last step, a chord's body)
  };

  /// Python's signature(sig).apply_async(partial_args, **call_options) from inside `parent`
  /// (nullptr: top level). Call options override the signature's own (None values ignored).
  /// Throws std::invalid_argument for a malformed signature.
  Applied ApplyAsync(const Json& sig, const Json& partial_args, const Json& call_options,
                     const RequestInfo* parent);

  /// Result tuples of everything sent since the last call: a task's `children`.
  Json TakeChildren();

  /// Fixed clock for tests (countdown/expires -> ISO times).
  void set_clock(std::function<std::chrono::system_clock::time_point()> now) {
    now_ = std::move(now);
  }
  /// Fixed id source for tests.
  void set_id_source(std::function<std::string()> ids) { new_id_ = std::move(ids); }

  const Router& router() const { return router_; }

 private:
  Applied ApplyTask(const Json& sig, const Json& partial_args, const Json& options,
                    const RequestInfo* parent);
  Applied ApplyGroup(const Json& sig, const Json& partial_args, Json options,
                     const RequestInfo* parent);
  Applied ApplyChain(const Json& sig, const Json& partial_args, Json options,
                     const RequestInfo* parent);
  Applied ApplyChord(const Json& sig, const Json& partial_args, Json options,
                     const RequestInfo* parent);
  Applied Nested(const Json& sig, const Json& partial_args, const Json& call_options,
                 const RequestInfo* parent);
  Applied Dispatch(const Json& sig, const Json& partial_args, const Json& call_options,
                   const RequestInfo* parent);
  /// Python's Signature.freeze: gives a signature dict its task id (and the given options).
  std::string Freeze(Json& sig, const Json& extra);

  MessageSink* sink_;
  Router router_;
  std::string origin_;
  std::string reply_to_;
  std::function<std::string(const std::string&)> task_queue_;
  std::function<std::chrono::system_clock::time_point()> now_;
  std::function<std::string()> new_id_;
  Json children_ = Json::Array{};
  int depth_ = 0;  ///< nesting of ApplyAsync calls: only top-level sends become children
};

/// A group signature dict of `tasks` (a JSON array of signature dicts), as Python's group().
Json GroupOf(Json tasks);
/// _chord._descend: how many header completions a signature contributes to a chord.
int64_t ChordSizeOf(const Json& sig);
/// The member signatures of a group/chain dict ("kwargs.tasks"), or of a chord header that
/// Python 5.2 sends as a list and newer versions as a group dict.
const Json& MemberTasks(const Json& sig);

}  // namespace cw::canvas

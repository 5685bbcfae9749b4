// Signatures and canvases in C++, the same dicts Python's celery.canvas builds, so a C++ task
// (or a C++ program) can start work on Python workers and on cworkers alike:
//
//   ctx.Send(cw::Signature("pyside.double", {21}).Set("queue", "python"));
//   ctx.Send(cw::Chain({cw::Signature("tasks.add", {2, 2}), cw::Signature("tasks.mul", {10})}));
//   ctx.Send(cw::Chord({cw::Signature("tasks.add", {1, 1}), cw::Signature("tasks.add", {2, 2})},
//                      cw::Signature("tasks.xsum")));
//
// A signature is {"task", "args", "kwargs", "options", "subtask_type", "immutable"}; options
// are apply_async's (queue, routing_key, priority, countdown, eta, expires, task_id, link,
// link_error, ignore_result, ...). Chains, groups and chords are signatures whose members sit
// in "kwargs", exactly as Python serialises them.
#pragma once

#include <initializer_list>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <cworker/json.h>

namespace cw {

class Signature {
 public:
  /// A task signature: `task` by full name ("tasks.add", "pyside.double").
  explicit Signature(std::string task, Json args = Json::Array{}, Json kwargs = Json::Object{});
  /// Signature("tasks.add", {2, 2}): positional arguments as a brace list.
  Signature(std::string task, std::initializer_list<Json> args, Json kwargs = Json::Object{})
      : Signature(std::move(task), Json(Json::Array(args)), std::move(kwargs)) {}
  /// Wraps a signature dict as Python sends it (e.g. a callback received in a message).
  static Signature FromJson(Json dict);

  /// Sets one apply_async option ("queue", "countdown", "priority", "task_id", ...).
  Signature& Set(std::string_view option, Json value);
  /// Immutable signatures do not receive their parent's result (Python's .si()).
  Signature& SetImmutable(bool immutable = true);
  /// Appends a success callback (Python's link=) or an error callback (link_error=).
  Signature& Link(const Signature& callback);
  Signature& LinkError(const Signature& errback);

  const std::string& task() const;
  const Json& options() const;
  const Json& ToJson() const { return dict_; }

 private:
  Signature() = default;
  Json dict_;
  friend Signature Chain(std::vector<Signature>);
  friend Signature Group(std::vector<Signature>);
  friend Signature Chord(std::vector<Signature>, Signature);
};

/// Python's chain(a, b, c): each result is prepended to the next task's args.
Signature Chain(std::vector<Signature> tasks);
/// Python's group(a, b, c): run in parallel; results kept in order.
Signature Group(std::vector<Signature> tasks);
/// Python's chord(header, body): body receives the list of header results, in header order.
Signature Chord(std::vector<Signature> header, Signature body);

struct RequestInfo;

/// Publishes signatures. The worker installs one for the task it runs (TaskContext::Send);
/// a C++ program can use cw::canvas::Producer (src/canvas/producer.h).
class Sender {
 public:
  virtual ~Sender() = default;
  /// Sends `sig` as a task sent by `parent` (nullptr at top level: no parent_id, fresh
  /// root_id). Returns the id to wait on: the task's id, the group id for a group, the last
  /// task's id for a chain, the body's id for a chord.
  virtual std::string Apply(const Signature& sig, const RequestInfo* parent) = 0;
};

}  // namespace cw

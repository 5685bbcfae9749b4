#include "canvas/applier.h"

#include <cmath>
#include <stdexcept>
#include <utility>
#include <vector>

#include <cw/protocol/python_repr.h>
#include <cw/protocol/task_encode.h>
#include <cw/protocol/time_format.h>

#include "util/uuid.h"

namespace cw::canvas {
namespace p = cw::protocol;

namespace {

// Celery's argsrepr/kwargsrepr limit (amqp.argsrepr_maxsize).
constexpr size_t kReprMax = 1024;

const Json kEmptyArray = Json::Array{};
const Json kEmptyObject = Json::Object{};
const Json kNull;

const Json& Field(const Json& sig, const char* key, const Json& fallback) {
  const Json* v = sig.is_object() ? sig.Find(key) : nullptr;
  return v != nullptr && !v->is_null() ? *v : fallback;
}

std::string SubtaskType(const Json& sig) {
  const Json& t = Field(sig, "subtask_type", kNull);
  return t.is_string() ? t.as_string() : "";
}

bool Immutable(const Json& sig) {
  const Json& v = Field(sig, "immutable", kNull);
  return v.is_bool() && v.as_bool();
}

const Json& Options(const Json& sig) {
  const Json& o = Field(sig, "options", kEmptyObject);
  return o.is_object() ? o : kEmptyObject;
}

Json& MutableOptions(Json& sig) {
  Json* o = sig.Find("options");
  if (o == nullptr || !o->is_object()) return sig.Set("options", Json::Object{});
  return *o;
}

std::string StringOr(const Json& obj, const char* key, std::string fallback = "") {
  const Json* v = obj.is_object() ? obj.Find(key) : nullptr;
  return v != nullptr && v->is_string() && !v->as_string().empty() ? v->as_string()
                                                                   : std::move(fallback);
}

// dict(a, **b) without b's None values (Signature.apply_async drops them).
Json Merge(const Json& a, const Json& b) {
  Json out = a.is_object() ? a : Json(Json::Object{});
  if (b.is_object()) {
    for (const auto& [k, v] : b.as_object()) {
      if (!v.is_null()) out.Set(k, v);
    }
  }
  return out;
}

Json Without(Json obj, std::initializer_list<const char*> keys) {
  if (!obj.is_object()) return Json(Json::Object{});
  Json out = Json::Object{};
  for (const auto& [k, v] : obj.as_object()) {
    bool drop = false;
    for (const char* key : keys) drop = drop || k == key;
    if (!drop) out.Set(k, v);
  }
  return out;
}

// partial + own, as Signature._merge prepends the parent's result.
Json Prepend(const Json& partial, const Json& own) {
  Json out = Json::Array{};
  if (partial.is_array()) {
    for (const Json& v : partial.as_array()) out.Push(v);
  }
  if (own.is_array()) {
    for (const Json& v : own.as_array()) out.Push(v);
  }
  return out;
}

Json MaybeList(const Json& v) {
  if (v.is_null()) return Json();
  if (v.is_array()) return v.empty() ? Json() : v;
  return Json::MakeArray({v});
}

std::optional<double> Number(const Json& obj, const char* key) {
  const Json* v = obj.Find(key);
  if (v == nullptr || !v->is_number()) return std::nullopt;
  return v->as_double();
}

Json ResultTuple(const std::string& id, Json members = Json()) {
  return Json::MakeArray({Json::MakeArray({id, Json()}), std::move(members)});
}

}  // namespace

const Json& MemberTasks(const Json& sig) {
  const Json& kwargs = Field(sig, "kwargs", kEmptyObject);
  if (SubtaskType(sig) == "chord") {
    const Json& header = Field(kwargs, "header", kEmptyArray);
    if (header.is_object()) return MemberTasks(header);  // a group dict (newer Celery)
    return header.is_array() ? header : kEmptyArray;
  }
  const Json& tasks = Field(kwargs, "tasks", kEmptyArray);
  if (tasks.is_object()) return MemberTasks(tasks);
  return tasks.is_array() ? tasks : kEmptyArray;
}

Json GroupOf(Json tasks) {
  return Json::MakeObject({{"task", "celery.group"},
                           {"args", Json::Array{}},
                           {"kwargs", Json::MakeObject({{"tasks", std::move(tasks)}})},
                           {"options", Json::Object{}},
                           {"subtask_type", "group"},
                           {"immutable", false}});
}

int64_t ChordSizeOf(const Json& sig) {
  const std::string type = SubtaskType(sig);
  if (type == "group") {
    int64_t n = 0;
    for (const Json& t : MemberTasks(sig).as_array()) n += ChordSizeOf(t);
    return n;
  }
  if (type == "chain") {
    const auto& tasks = MemberTasks(sig).as_array();
    for (auto it = tasks.rbegin(); it != tasks.rend(); ++it) {
      const int64_t n = ChordSizeOf(*it);
      if (n > 0) return n;
    }
    return 0;
  }
  if (type == "chord") return ChordSizeOf(Field(Field(sig, "kwargs", kEmptyObject), "body", kNull));
  return 1;
}

Applier::Applier(MessageSink* sink, Router router, std::string origin, std::string reply_to,
                 std::function<std::string(const std::string&)> task_queue)
    : sink_(sink),
      router_(std::move(router)),
      origin_(std::move(origin)),
      reply_to_(std::move(reply_to)),
      task_queue_(std::move(task_queue)),
      now_([] { return std::chrono::system_clock::now(); }),
      new_id_([] { return util::Uuid4(); }) {}

std::string Applier::Apply(const Signature& sig, const RequestInfo* parent) {
  return ApplyAsync(sig.ToJson(), Json::Array{}, Json::Object{}, parent).id;
}

Json Applier::TakeChildren() {
  Json out = std::move(children_);
  children_ = Json::Array{};
  return out;
}

Applier::Applied Applier::ApplyAsync(const Json& sig, const Json& partial_args,
                                      const Json& call_options, const RequestInfo* parent) {
  if (!sig.is_object() || !Field(sig, "task", kNull).is_string()) {
    throw std::invalid_argument("not a signature: " + p::PyReprTruncated(sig, 200));
  }
  const bool top = depth_ == 0;
  Applied applied = Nested(sig, partial_args, call_options, parent);
  if (top) children_.Push(applied.child);
  return applied;
}

// Applies one part of a bigger signature: group members and an empty chord's body are not
// children of the sender (the group is), so they are applied one level deeper.
Applier::Applied Applier::Nested(const Json& sig, const Json& partial_args,
                                 const Json& call_options, const RequestInfo* parent) {
  struct DepthGuard {
    int& depth;
    explicit DepthGuard(int& d) : depth(d) { ++depth; }
    ~DepthGuard() { --depth; }
  } guard(depth_);
  return Dispatch(sig, partial_args, call_options, parent);
}

Applier::Applied Applier::Dispatch(const Json& sig, const Json& partial_args,
                                   const Json& call_options, const RequestInfo* parent) {
  Json options = Merge(Options(sig), call_options);
  const std::string type = SubtaskType(sig);
  if (type == "chain") return ApplyChain(sig, partial_args, std::move(options), parent);
  if (type == "group") return ApplyGroup(sig, partial_args, std::move(options), parent);
  if (type == "chord") return ApplyChord(sig, partial_args, std::move(options), parent);
  return ApplyTask(sig, partial_args, options, parent);
}

std::string Applier::Freeze(Json& sig, const Json& extra) {
  const std::string type = SubtaskType(sig);
  if (type == "chord") {
    // A chord's result is its body's: the body takes the id and the chord membership.
    Json* kwargs = sig.Find("kwargs");
    Json* body = kwargs != nullptr ? kwargs->Find("body") : nullptr;
    if (body != nullptr && body->is_object()) return Freeze(*body, extra);
  }
  Json& options = MutableOptions(sig);
  std::string id = StringOr(options, "task_id");
  if (id.empty()) {
    id = StringOr(extra, "task_id");
    if (id.empty()) id = new_id_();
    options.Set("task_id", id);
  }
  if (type == "chain") return id;  // a chain nested here is flattened before it is frozen
  for (const char* key : {"root_id", "parent_id"}) {
    const std::string v = StringOr(extra, key);
    if (!v.empty()) options.Set(key, v);
  }
  if (type.empty() && StringOr(options, "reply_to").empty()) options.Set("reply_to", reply_to_);
  const std::string group_id = StringOr(extra, "group_id");
  if (!group_id.empty() && StringOr(options, "group_id").empty()) {
    options.Set("group_id", group_id);
  }
  if (const Json* chord = extra.Find("chord"); chord != nullptr && !chord->is_null()) {
    options.Set("chord", *chord);
  }
  if (const Json* index = extra.Find("group_index"); index != nullptr && index->is_int()) {
    options.Set("group_index", *index);
  }
  return id;
}

// app.send_task / amqp.as_task_v2: one message.
Applier::Applied Applier::ApplyTask(const Json& sig, const Json& partial_args,
                                    const Json& opts, const RequestInfo* parent) {
  p::TaskMessage msg;
  msg.task = Field(sig, "task", kNull).as_string();
  const Json& own_args = Field(sig, "args", kEmptyArray);
  msg.args = Immutable(sig) ? own_args : Prepend(partial_args, own_args);
  if (!msg.args.is_array()) throw std::invalid_argument("task args must be a list");
  msg.kwargs = Field(sig, "kwargs", kEmptyObject);
  if (!msg.kwargs.is_object()) throw std::invalid_argument("task kwargs must be a dict");
  msg.id = StringOr(opts, "task_id");
  if (msg.id.empty()) msg.id = new_id_();
  msg.root_id = StringOr(opts, "root_id");
  msg.parent_id = StringOr(opts, "parent_id");
  if (parent != nullptr) {  // sent from inside a task
    if (msg.root_id.empty()) msg.root_id = parent->root_id.empty() ? parent->id : parent->root_id;
    if (msg.parent_id.empty()) msg.parent_id = parent->id;
  }
  const auto now = now_();
  if (const auto countdown = Number(opts, "countdown"); countdown && *countdown != 0) {
    msg.eta = p::FormatIsoUtc(now + std::chrono::duration_cast<std::chrono::system_clock::duration>(
                                        std::chrono::duration<double>(*countdown)));
  } else {
    msg.eta = StringOr(opts, "eta");
  }
  if (const auto expires = Number(opts, "expires")) {
    msg.expires =
        p::FormatIsoUtc(now + std::chrono::duration_cast<std::chrono::system_clock::duration>(
                                  std::chrono::duration<double>(*expires)));
  } else {
    msg.expires = StringOr(opts, "expires");
  }
  msg.group = StringOr(opts, "group_id");
  if (const Json* index = opts.Find("group_index"); index != nullptr && index->is_int()) {
    msg.group_index = index->as_int();
  }
  if (const Json* retries = opts.Find("retries"); retries != nullptr && retries->is_int()) {
    msg.retries = retries->as_int();
  }
  msg.time_limit = Number(opts, "time_limit");
  msg.soft_time_limit = Number(opts, "soft_time_limit");
  msg.shadow = StringOr(opts, "shadow");
  const Json* ignore = opts.Find("ignore_result");
  msg.ignore_result = ignore != nullptr && ignore->is_bool() && ignore->as_bool();
  msg.argsrepr = StringOr(opts, "argsrepr", p::PyTupleReprTruncated(msg.args, kReprMax));
  msg.kwargsrepr = StringOr(opts, "kwargsrepr", p::PyReprTruncated(msg.kwargs, kReprMax));
  msg.origin = origin_;
  msg.reply_to = StringOr(opts, "reply_to", reply_to_);
  const Json* chain = opts.Find("chain");
  const Json* chord = opts.Find("chord");
  msg.embed = Json::MakeObject({{"callbacks", MaybeList(Field(opts, "link", kNull))},
                                {"errbacks", MaybeList(Field(opts, "link_error", kNull))},
                                {"chain", chain != nullptr ? *chain : Json()},
                                {"chord", chord != nullptr ? *chord : Json()}});
  // Celery >= 5.3 senders add three headers; do as the message we were sent did.
  if (parent != nullptr && parent->headers.is_object() && parent->headers.Find("stamps")) {
    msg.headers = Json::MakeObject({{"replaced_task_nesting", 0},
                                    {"stamped_headers", Field(opts, "stamped_headers", kNull)},
                                    {"stamps", Json::Object{}}});
  }

  const Route route =
      router_.Resolve(msg.task, opts, task_queue_ ? task_queue_(msg.task) : std::string());
  p::PublishTarget target;
  target.exchange = route.exchange;
  target.routing_key = route.routing_key;
  target.priority = route.priority.value_or(0);
  target.delivery_tag = new_id_();
  sink_->Publish(route, target.priority, p::EncodeTaskEnvelope(msg, target));
  return Applied{ResultTuple(msg.id), msg.id};
}

// group.apply_async: every member with the group id and its index; nested groups flattened.
Applier::Applied Applier::ApplyGroup(const Json& sig, const Json& partial_args, Json opts,
                                     const RequestInfo* parent) {
  std::vector<Json> members;
  std::vector<const Json*> stack;
  const auto& top = MemberTasks(sig).as_array();
  for (auto it = top.rbegin(); it != top.rend(); ++it) stack.push_back(&*it);
  while (!stack.empty()) {
    const Json* m = stack.back();
    stack.pop_back();
    if (SubtaskType(*m) == "group") {
      const auto& inner = MemberTasks(*m).as_array();
      for (auto it = inner.rbegin(); it != inner.rend(); ++it) stack.push_back(&*it);
    } else {
      members.push_back(*m);
    }
  }
  const Json partial =
      Immutable(sig) ? partial_args : Prepend(partial_args, Field(sig, "args", kEmptyArray));
  std::string gid = StringOr(opts, "task_id");
  if (gid.empty()) gid = new_id_();
  const Json* chord = opts.Find("chord");
  const Json body = chord != nullptr ? *chord : Json();
  Json member_opts = Without(std::move(opts), {"task_id", "chord", "link", "link_error",
                                               "group_index", "chain"});
  member_opts.Set("group_id", gid);

  Json results = Json::Array{};
  int64_t chord_size = 0;
  for (size_t i = 0; i < members.size(); ++i) {
    chord_size += ChordSizeOf(members[i]);
    // Celery stores the header size just before publishing the last header message.
    if (!body.is_null() && i + 1 == members.size()) sink_->SetChordSize(gid, chord_size);
    Json mo = member_opts;
    mo.Set("group_index", static_cast<int64_t>(i));
    if (!body.is_null()) mo.Set("chord", body);
    results.Push(Nested(members[i], partial, mo, parent).child);
  }
  return Applied{ResultTuple(gid, std::move(results)), gid};
}

// _chain.run + prepare_steps: freeze every step from the last, publish the first with the
// rest (reversed) as embed.chain.
Applier::Applied Applier::ApplyChain(const Json& sig, const Json& partial_args, Json opts,
                                     const RequestInfo* parent) {
  const Json args =
      Immutable(sig) ? Field(sig, "args", kEmptyArray)
                     : Prepend(partial_args, Field(sig, "args", kEmptyArray));
  std::vector<Json> steps(MemberTasks(sig).as_array().begin(), MemberTasks(sig).as_array().end());
  if (steps.empty()) return Applied{Json(), ""};

  const Json last_extra = Json::MakeObject({{"task_id", Field(opts, "task_id", kNull)},
                                            {"root_id", Field(opts, "root_id", kNull)},
                                            {"group_id", Field(opts, "group_id", kNull)},
                                            {"chord", Field(opts, "chord", kNull)},
                                            {"group_index", Field(opts, "group_index", kNull)}});
  const Json other_extra = Json::MakeObject({{"root_id", Field(opts, "root_id", kNull)}});
  const Json link_error = MaybeList(Field(opts, "link_error", kNull));

  std::vector<Json> frozen;  // last step first, as Python keeps them
  std::string last_id;
  while (!steps.empty()) {
    Json task = std::move(steps.back());
    steps.pop_back();
    const bool is_first = steps.empty();
    const bool is_last = frozen.empty() && last_id.empty();
    if (!task.is_object()) throw std::invalid_argument("chain step is not a signature");
    if (is_first && !args.empty() && !Immutable(task)) {
      task.Set("args", Prepend(args, Field(task, "args", kEmptyArray)));
    }
    if (SubtaskType(task) == "chain") {
      for (const Json& t : MemberTasks(task).as_array()) steps.push_back(t);
      continue;
    }
    if (SubtaskType(task) == "group" && !frozen.empty()) {
      // group | task: Celery turns the pair into a chord whose body is the following task.
      Json body = std::move(frozen.back());
      frozen.pop_back();
      Json header = Field(Field(task, "kwargs", kEmptyObject), "tasks", kEmptyArray);
      Json chord = Json::MakeObject(
          {{"task", "celery.chord"},
           {"args", Field(task, "args", kEmptyArray)},
           {"kwargs", Json::MakeObject({{"kwargs", Json::Object{}},
                                        {"header", std::move(header)},
                                        {"body", std::move(body)}})},
           {"options", Options(task)},
           {"subtask_type", "chord"},
           {"immutable", Immutable(task)}});
      task = std::move(chord);
    }
    const std::string id = Freeze(task, is_last ? last_extra : other_extra);
    if (is_last) last_id = id;
    if (!link_error.is_null()) {
      Json& o = MutableOptions(task);
      Json* le = o.Find("link_error");
      if (le == nullptr || !le->is_array()) le = &o.Set("link_error", Json::Array{});
      for (const Json& e : link_error.as_array()) le->Push(e);
    }
    frozen.push_back(std::move(task));
  }
  if (const Json link = MaybeList(Field(opts, "link", kNull)); !link.is_null()) {
    Json& o = MutableOptions(frozen.front());
    Json* l = o.Find("link");
    if (l == nullptr || !l->is_array()) l = &o.Set("link", Json::Array{});
    for (const Json& e : link.as_array()) l->Push(e);
  }
  Json first = std::move(frozen.back());
  frozen.pop_back();
  Json rest = Json::Array{};
  for (Json& t : frozen) rest.Push(std::move(t));
  Json first_opts = Without(std::move(opts), {"task_id", "group_id", "chord", "group_index",
                                              "link", "link_error", "root_id"});
  first_opts.Set("chain", std::move(rest));
  Applied applied = Dispatch(first, Json::Array{}, first_opts, parent);
  if (!last_id.empty()) applied.id = last_id;
  return applied;
}

// chord.apply_async / _chord.run: freeze the body, send the header with it.
Applier::Applied Applier::ApplyChord(const Json& sig, const Json& partial_args, Json opts,
                                     const RequestInfo* parent) {
  const Json& kwargs = Field(sig, "kwargs", kEmptyObject);
  Json body = Field(kwargs, "body", kNull);
  if (!body.is_object()) throw std::invalid_argument("chord without a body");
  const Json partial =
      Immutable(sig) ? Field(sig, "args", kEmptyArray)
                     : Prepend(partial_args, Field(sig, "args", kEmptyArray));
  const Json& header_field = Field(kwargs, "header", kEmptyArray);
  std::string gid = header_field.is_object() ? StringOr(Options(header_field), "task_id") : "";
  if (gid.empty()) gid = new_id_();

  // Every option of the chord call goes to the body (chain continuation, parent, queue...).
  Json& body_opts = MutableOptions(body);
  const Json passed_on = Without(opts, {"task_id"});
  for (const auto& [k, v] : passed_on.as_object()) body_opts.Set(k, v);
  const std::string body_id =
      Freeze(body, Json::MakeObject({{"task_id", Field(opts, "task_id", kNull)},
                                     {"root_id", Field(opts, "root_id", kNull)}}));

  const Json& header = MemberTasks(sig);
  if (header.empty()) {  // nothing will ever complete it: Celery sends the body at once
    Nested(body, Json::MakeArray({Json::Array{}}), Json::Object{}, parent);
    return Applied{ResultTuple(gid, Json::Array{}), body_id};
  }
  Json header_opts =
      Without(std::move(opts), {"chain", "chord", "task_id", "link", "link_error"});
  header_opts.Set("task_id", gid);
  header_opts.Set("chord", body);
  Applied applied = ApplyGroup(GroupOf(header), partial, std::move(header_opts), parent);
  applied.id = body_id;
  return applied;
}

}  // namespace cw::canvas

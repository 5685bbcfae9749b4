#include "canvas/continuations.h"

#include <stdexcept>

#include <spdlog/spdlog.h>

#include <cw/protocol/keys.h>
#include <cw/protocol/python_repr.h>
#include <cw/protocol/result_meta.h>
#include <cw/protocol/time_format.h>

namespace cw::canvas {
namespace p = cw::protocol;

namespace {

const Json* NonEmpty(const Json& embed, const char* key) {
  const Json* v = embed.is_object() ? embed.Find(key) : nullptr;
  if (v == nullptr || v->is_null()) return nullptr;
  if (v->is_array() && v->empty()) return nullptr;
  return v;
}

std::string OptionString(const Json& sig, const char* key) {
  const Json* options = sig.is_object() ? sig.Find("options") : nullptr;
  const Json* v = options != nullptr && options->is_object() ? options->Find(key) : nullptr;
  return v != nullptr && v->is_string() ? v->as_string() : "";
}

Json OptionOrNull(const Json& sig, const char* key) {
  const Json* options = sig.is_object() ? sig.Find("options") : nullptr;
  const Json* v = options != nullptr && options->is_object() ? options->Find(key) : nullptr;
  return v != nullptr ? *v : Json();
}

// The id a body signature's result lives under (a chain's is its last step's).
std::string SignatureId(const Json& sig) {
  const Json* type = sig.Find("subtask_type");
  if (type != nullptr && type->is_string() && type->as_string() == "chain") {
    const Json& tasks = MemberTasks(sig);
    if (!tasks.empty()) return SignatureId(tasks.At(tasks.size() - 1));
  }
  if (type != nullptr && type->is_string() && type->as_string() == "chord") {
    const Json* kwargs = sig.Find("kwargs");
    const Json* body = kwargs != nullptr ? kwargs->Find("body") : nullptr;
    if (body != nullptr) return SignatureId(*body);
  }
  return OptionString(sig, "task_id");
}

// repr() of what a chord member holds: the rebuilt exception for failures, else the value.
std::string MemberRepr(const std::string& state, const Json& value) {
  if ((state == "FAILURE" || state == "REVOKED" || state == "RETRY") && value.is_object()) {
    const Json* type = value.Find("exc_type");
    const Json* args = value.Find("exc_message");
    if (type != nullptr && type->is_string()) {
      Json exc_args = args == nullptr ? Json(Json::Array{})
                      : args->is_array() ? *args
                                         : Json::MakeArray({*args});
      return p::PyExceptionRepr(type->as_string(), exc_args);
    }
  }
  return p::PyRepr(value);
}

struct ChordFailure : std::runtime_error {
  using std::runtime_error::runtime_error;
};

std::string ChordTraceback(const std::string& message) {
  return "Traceback (most recent call last):\n  File \"<cworker>\", in on_chord_part_return\n"
         "celery.exceptions.ChordError: " +
         message + "\n";
}

}  // namespace

Continuations::Continuations(Applier* applier, backend::RedisBackend* backend)
    : applier_(applier), backend_(backend) {}

Json Continuations::OnSuccess(const p::TaskMessage& msg, const RequestInfo& request,
                              const Json& retval) {
  const Json* callbacks = NonEmpty(msg.embed, "callbacks");
  const Json* chain = NonEmpty(msg.embed, "chain");
  if (callbacks == nullptr && chain == nullptr) return applier_->TakeChildren();
  const std::string root_id = msg.root_id.empty() ? msg.id : msg.root_id;
  const Json call = Json::MakeObject({{"parent_id", msg.id}, {"root_id", root_id}});
  const Json partial = Json::MakeArray({retval});
  if (callbacks != nullptr) {
    if (!callbacks->is_array()) throw std::invalid_argument("callbacks must be a list");
    if (callbacks->size() == 1) {
      applier_->ApplyAsync(callbacks->At(size_t{0}), partial, call, &request);
    } else {
      // Several: group-type callbacks each on their own, the others together as one group.
      Json plain = Json::Array{};
      for (const Json& cb : callbacks->as_array()) {
        const Json* type = cb.is_object() ? cb.Find("subtask_type") : nullptr;
        if (type != nullptr && type->is_string() && type->as_string() == "group") {
          applier_->ApplyAsync(cb, partial, call, &request);
        } else {
          plain.Push(cb);
        }
      }
      if (!plain.empty()) {
        applier_->ApplyAsync(GroupOf(std::move(plain)), partial, call, &request);
      }
    }
  }
  if (chain != nullptr) {
    if (!chain->is_array()) throw std::invalid_argument("chain must be a list");
    Json rest = *chain;
    Json next = rest.At(rest.size() - 1);
    Json::Array remaining(rest.as_array().begin(), rest.as_array().end() - 1);
    Json options = call;
    options.Set("chain", Json(std::move(remaining)));
    applier_->ApplyAsync(next, partial, options, &request);
  }
  return applier_->TakeChildren();
}

void Continuations::OnReady(const p::TaskMessage& msg, const RequestInfo& request,
                            const std::string& state, const Json& result) {
  const Json* chord = NonEmpty(msg.embed, "chord");
  if (chord == nullptr) return;
  ChordPartReturn(msg.id, msg.group, msg.group_index, *chord, request, state, result);
}

void Continuations::OnFailure(const p::TaskMessage& msg, const RequestInfo& request,
                              const Json& exception, const std::string& traceback, bool store) {
  OnReady(msg, request, "FAILURE", exception);
  if (const Json* chain = NonEmpty(msg.embed, "chain"); chain != nullptr && chain->is_array()) {
    // A failed chain never runs its later steps: they get the same FAILURE, so a client
    // waiting on the chain's last id is answered (Celery's mark_as_failure).
    for (const Json& step : chain->as_array()) {
      const std::string id = OptionString(step, "task_id");
      if (store && !id.empty()) {
        Store(id, "FAILURE", exception, traceback, OptionString(step, "group_id"),
              OptionString(step, "parent_id"));
      }
      const Json body = OptionOrNull(step, "chord");
      if (!body.is_null() && !id.empty()) {
        const Json index = OptionOrNull(step, "group_index");
        ChordPartReturn(id, OptionString(step, "group_id"),
                        index.is_int() ? std::optional<int64_t>(index.as_int()) : std::nullopt,
                        body, request, "FAILURE", exception);
      }
    }
  }
  if (const Json* errbacks = NonEmpty(msg.embed, "errbacks")) {
    SendErrbacks(*errbacks, msg.id, msg.root_id.empty() ? msg.id : msg.root_id);
  }
}

void Continuations::SendErrbacks(const Json& errbacks, const std::string& task_id,
                                 const std::string& root_id) {
  const Json list = errbacks.is_array() ? errbacks : Json::MakeArray({errbacks});
  try {
    applier_->ApplyAsync(GroupOf(list), Json::MakeArray({task_id}),
                         Json::MakeObject({{"parent_id", task_id}, {"root_id", root_id}}),
                         nullptr);
    applier_->TakeChildren();
  } catch (const std::exception& e) {
    spdlog::error("Task [{}]: could not send its error callbacks: {}", task_id, e.what());
  }
}

void Continuations::ChordPartReturn(const std::string& task_id, const std::string& group_id,
                                    std::optional<int64_t> group_index, const Json& body,
                                    const RequestInfo& request, const std::string& state,
                                    const Json& result) {
  if (group_id.empty() || task_id.empty()) return;
  if (backend_ == nullptr) {
    spdlog::error("Task [{}] is part of chord {} but no result backend is configured: the "
                  "chord cannot complete",
                  task_id, group_id);
    return;
  }
  const std::string member = Json::MakeArray({1, task_id, state, result}).Dump();
  const backend::RedisBackend::ChordCount count =
      backend_->ChordPartReturn(group_id, group_index, member);
  if (!count.total || count.ready != *count.total) return;

  // This report completed the chord: join the parts in header order and send the body.
  Json results = Json::Array{};
  try {
    for (const std::string& text : backend_->ChordMembers(group_id)) {
      const Json part = Json::Parse(text);
      if (!part.is_array() || part.size() != 4 || !part.At(size_t{2}).is_string()) {
        throw std::runtime_error("unexpected chord member " + text);
      }
      const std::string& part_state = part.At(size_t{2}).as_string();
      if (part_state == "FAILURE" || part_state == "REVOKED") {
        const Json& tid = part.At(size_t{1});
        throw ChordFailure("Dependency " + (tid.is_string() ? tid.as_string() : tid.Dump()) +
                           " raised " + MemberRepr(part_state, part.At(size_t{3})));
      }
      results.Push(part.At(size_t{3}));
    }
  } catch (const ChordFailure& e) {
    spdlog::error("Chord '{}' raised: ChordError({})", group_id, p::PyStrRepr(e.what()));
    ChordError(body, e.what());
    return;
  } catch (const std::exception& e) {
    const std::string message = std::string("Join error: ") + "RuntimeError(" +
                                p::PyStrRepr(e.what()) + ")";
    spdlog::error("Chord '{}' raised: ChordError({})", group_id, p::PyStrRepr(message));
    ChordError(body, message);
    return;
  }
  try {
    applier_->ApplyAsync(body, Json::MakeArray({std::move(results)}), Json::Object{}, &request);
  } catch (const std::exception& e) {
    const std::string message = std::string("Callback error: ") + "RuntimeError(" +
                                p::PyStrRepr(e.what()) + ")";
    spdlog::error("Chord callback for '{}' raised: {}", group_id, e.what());
    ChordError(body, message);
  }
  backend_->DeleteChordKeys(group_id);
}

void Continuations::ChordError(const Json& body, const std::string& message) {
  const std::string body_id = SignatureId(body);
  const Json errbacks = OptionOrNull(body, "link_error");
  if (!body_id.empty() && !errbacks.is_null() && !errbacks.empty()) {
    SendErrbacks(errbacks, body_id, body_id);
  }
  if (body_id.empty()) return;
  const p::ExceptionInfo exc{"ChordError", "celery.exceptions", Json::MakeArray({message})};
  Store(body_id, "FAILURE", exc.ToJson(), ChordTraceback(message), "", "");
}

void Continuations::Store(const std::string& task_id, const std::string& status,
                          const Json& result, const std::string& traceback,
                          const std::string& group_id, const std::string& parent_id) {
  if (backend_ == nullptr) return;
  p::ResultMeta meta;
  meta.status = status;
  meta.result = result;
  if (!traceback.empty()) meta.traceback = traceback;
  const p::DateDoneText now(std::chrono::system_clock::now());
  meta.date_done = now.view();
  meta.group_id = group_id;
  meta.parent_id = parent_id;
  meta.task_id = task_id;
  try {
    backend_->Store(meta);
  } catch (const std::exception& e) {
    spdlog::error("Task [{}]: could not store its {} result: {}", task_id, status, e.what());
  }
}

}  // namespace cw::canvas

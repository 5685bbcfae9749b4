// Signature dicts as Python's celery.canvas serialises them, and TaskContext::Send.
#include <cworker/canvas.h>

#include <stdexcept>
#include <utility>

#include <cworker/task.h>

namespace cw {
namespace {

Json SignatureDict(std::string task, Json args, Json kwargs, Json subtask_type) {
  return Json::MakeObject({{"task", std::move(task)},
                           {"args", std::move(args)},
                           {"kwargs", std::move(kwargs)},
                           {"options", Json::Object{}},
                           {"subtask_type", std::move(subtask_type)},
                           {"immutable", false}});
}

Json Dicts(const std::vector<Signature>& sigs) {
  Json out = Json::Array{};
  for (const Signature& s : sigs) out.Push(s.ToJson());
  return out;
}

Json& OptionsOf(Json& dict) {
  Json* options = dict.Find("options");
  if (options == nullptr || !options->is_object()) {
    return dict.Set("options", Json::Object{});
  }
  return *options;
}

}  // namespace

Signature::Signature(std::string task, Json args, Json kwargs)
    : dict_(SignatureDict(std::move(task), std::move(args), std::move(kwargs), Json())) {
  if (!dict_.At("args").is_array()) throw std::invalid_argument("Signature args must be a list");
  if (!dict_.At("kwargs").is_object()) {
    throw std::invalid_argument("Signature kwargs must be a dict");
  }
}

Signature Signature::FromJson(Json dict) {
  if (!dict.is_object()) throw std::invalid_argument("a signature must be a dict");
  const Json* task = dict.Find("task");
  if (task == nullptr || !task->is_string()) {
    throw std::invalid_argument("a signature needs a task name");
  }
  Signature s;
  s.dict_ = std::move(dict);
  return s;
}

Signature& Signature::Set(std::string_view option, Json value) {
  OptionsOf(dict_).Set(std::string(option), std::move(value));
  return *this;
}

Signature& Signature::SetImmutable(bool immutable) {
  dict_.Set("immutable", immutable);
  return *this;
}

Signature& Signature::Link(const Signature& callback) {
  Json& options = OptionsOf(dict_);
  Json* link = options.Find("link");
  if (link == nullptr || !link->is_array()) link = &options.Set("link", Json::Array{});
  link->Push(callback.ToJson());
  return *this;
}

Signature& Signature::LinkError(const Signature& errback) {
  Json& options = OptionsOf(dict_);
  Json* link = options.Find("link_error");
  if (link == nullptr || !link->is_array()) link = &options.Set("link_error", Json::Array{});
  link->Push(errback.ToJson());
  return *this;
}

const std::string& Signature::task() const { return dict_.At("task").as_string(); }

const Json& Signature::options() const {
  static const Json kEmpty = Json::Object{};
  const Json* options = dict_.Find("options");
  return options != nullptr && options->is_object() ? *options : kEmpty;
}

Signature Chain(std::vector<Signature> tasks) {
  Signature s;
  s.dict_ = SignatureDict("celery.chain", Json::Array{},
                          Json::MakeObject({{"tasks", Dicts(tasks)}}), "chain");
  return s;
}

Signature Group(std::vector<Signature> tasks) {
  Signature s;
  s.dict_ = SignatureDict("celery.group", Json::Array{},
                          Json::MakeObject({{"tasks", Dicts(tasks)}}), "group");
  return s;
}

Signature Chord(std::vector<Signature> header, Signature body) {
  Signature s;
  s.dict_ = SignatureDict(
      "celery.chord", Json::Array{},
      Json::MakeObject(
          {{"kwargs", Json::Object{}}, {"header", Dicts(header)}, {"body", body.ToJson()}}),
      "chord");
  return s;
}

std::string TaskContext::Send(const Signature& sig) const {
  if (sender_ == nullptr) {
    throw std::logic_error("TaskContext::Send: this task is not running in a worker");
  }
  return sender_->Apply(sig, &request_);
}

std::string TaskContext::SendTask(std::string name, Json args, Json kwargs,
                                  const Json& options) const {
  Signature sig(std::move(name), std::move(args), std::move(kwargs));
  if (options.is_object()) {
    for (const auto& [key, value] : options.as_object()) sig.Set(key, value);
  }
  return Send(sig);
}

}  // namespace cw

// Python's argument binding for task calls, with Python's error wording, so a Celery user who
// sends the wrong arguments to a C++ task sees the TypeError they would see from Python.
#include <string>

#include <cworker/task.h>

namespace cw::detail {
namespace {

std::string ParamName(const TaskDescriptor& task, size_t index) {
  if (index < task.options.arg_names.size()) return task.options.arg_names[index];
  return "arg" + std::to_string(index + 1);
}

// "'x'", "'x' and 'y'", "'x', 'y', and 'z'" as CPython lists missing arguments.
std::string JoinQuoted(const std::vector<std::string>& names) {
  std::string out;
  for (size_t i = 0; i < names.size(); ++i) {
    if (i > 0) out += names.size() == 2 ? " and " : (i + 1 == names.size() ? ", and " : ", ");
    out += "'" + names[i] + "'";
  }
  return out;
}

std::string Plural(size_t n, const char* word) {
  return std::to_string(n) + " " + word + (n == 1 ? "" : "s");
}

}  // namespace

BoundArgs BindArguments(const TaskDescriptor& task, const Json& args, const Json& kwargs,
                        size_t n_params, const std::vector<bool>& optional, bool takes_args,
                        bool takes_kwargs) {
  const std::string fn = task.short_name + "()";
  BoundArgs bound;
  bound.values.assign(n_params, nullptr);
  bound.extra_args = Json::Array{};
  bound.extra_kwargs = Json::Object{};

  const Json::Array& positional = args.as_array();
  for (size_t i = 0; i < positional.size(); ++i) {
    if (i < n_params) {
      bound.values[i] = &positional[i];
    } else if (takes_args) {
      bound.extra_args.Push(positional[i]);
    } else {
      throw TypeError(fn + " takes " + Plural(n_params, "positional argument") + " but " +
                      std::to_string(positional.size()) +
                      (positional.size() == 1 ? " was" : " were") + " given");
    }
  }

  for (const auto& [key, value] : kwargs.as_object()) {
    size_t index = n_params;
    for (size_t i = 0; i < n_params && i < task.options.arg_names.size(); ++i) {
      if (task.options.arg_names[i] == key) index = i;
    }
    if (index < n_params) {
      if (bound.values[index] != nullptr) {
        throw TypeError(fn + " got multiple values for argument '" + key + "'");
      }
      bound.values[index] = &value;
    } else if (takes_kwargs) {
      bound.extra_kwargs.Set(key, value);
    } else {
      throw TypeError(fn + " got an unexpected keyword argument '" + key + "'");
    }
  }

  std::vector<std::string> missing;
  for (size_t i = 0; i < n_params; ++i) {
    if (bound.values[i] == nullptr && !optional[i]) missing.push_back(ParamName(task, i));
  }
  if (!missing.empty()) {
    throw TypeError(fn + " missing " + Plural(missing.size(), "required positional argument") +
                    ": " + JoinQuoted(missing));
  }
  return bound;
}

void ThrowArgumentType(const TaskDescriptor& task, size_t index, const char* what) {
  throw TypeError(task.short_name + "() argument '" + ParamName(task, index) + "': " + what);
}

}  // namespace cw::detail

#include "cli/config_file.h"

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <sstream>

#include <cworker/json.h>

namespace cw::cli {
namespace {

// Reads one file's settings, with the file name and key in every message.
class Reader {
 public:
  explicit Reader(const std::string& source) : source_(source) {}

  [[noreturn]] void Fail(const std::string& key, const std::string& expected,
                         const Json& got) const {
    throw ConfigError(source_ + ": setting '" + key + "' must be " + expected + ", got " +
                      got.python_type_name() + " " + Shorten(got.Dump()));
  }

  std::string String(const std::string& key, const Json& v, bool allow_empty = false) const {
    if (!v.is_string()) Fail(key, "a string", v);
    if (!allow_empty && v.as_string().empty()) Fail(key, "a non-empty string", v);
    return v.as_string();
  }

  bool Bool(const std::string& key, const Json& v) const {
    if (!v.is_bool()) Fail(key, "true or false", v);
    return v.as_bool();
  }

  // A non-negative int that fits an int; `null_value` is used for null when given.
  int64_t Count(const std::string& key, const Json& v, std::optional<int64_t> null_value,
                int64_t max = std::numeric_limits<int>::max()) const {
    if (v.is_null() && null_value) return *null_value;
    const std::string expected =
        null_value ? "a non-negative integer or null" : "a non-negative integer";
    if (!v.is_int() || v.as_int() < 0 || v.as_int() > max) Fail(key, expected, v);
    return v.as_int();
  }

  // broker_transport_options: the Redis transport's options kombu would read; unknown ones are
  // warned about, as other settings are.
  void TransportOptions(const std::string& key, const Json& v, ConfigFile* c) const {
    if (v.is_null()) return;
    if (!v.is_object()) Fail(key, "an object {\"visibility_timeout\": 3600}", v);
    for (const auto& [name, value] : v.as_object()) {
      if (name == "visibility_timeout") {
        if (!value.is_number() || value.as_double() <= 0) {
          Fail(key + "." + name, "a positive number of seconds", value);
        }
        c->visibility_timeout = value.as_double();
      } else if (name == "master_name") {
        c->master_name = String(key + "." + name, value);
      } else if (name == "global_keyprefix") {
        c->global_keyprefix = String(key + "." + name, value, /*allow_empty=*/true);
      } else {
        c->warnings.push_back(source_ + ": ignoring unknown or unsupported transport option '" +
                              name + "'");
      }
    }
  }

  void BackendTransportOptions(const std::string& key, const Json& v, ConfigFile* c) const {
    if (v.is_null()) return;
    if (!v.is_object()) Fail(key, "an object {\"master_name\": \"mymaster\"}", v);
    for (const auto& [name, value] : v.as_object()) {
      if (name == "master_name") {
        c->backend_master_name = String(key + "." + name, value);
      } else if (name == "global_keyprefix") {
        c->backend_global_keyprefix = String(key + "." + name, value, /*allow_empty=*/true);
      } else {
        c->warnings.push_back(source_ + ": ignoring unknown or unsupported result backend "
                              "transport option '" + name + "'");
      }
    }
  }

  // task_routes: {"pattern": "queue" | {"queue": "queue", ...}, ...}, or a list of such
  // objects (Celery accepts a list of routers), applied in order.
  void Routes(const std::string& key, const Json& v, std::vector<canvas::RouteRule>* out,
              std::vector<std::string>* warnings) const {
    if (v.is_null()) return;
    if (v.is_array()) {
      for (const Json& item : v.as_array()) {
        if (!item.is_object()) Fail(key, "an object (or a list of objects)", item);
        Routes(key, item, out, warnings);
      }
      return;
    }
    if (!v.is_object()) Fail(key, "an object {\"pattern\": \"queue\"}", v);
    for (const auto& [pattern, route] : v.as_object()) {
      const std::string where = key + "[\"" + pattern + "\"]";
      if (pattern.empty()) throw ConfigError(source_ + ": " + key + " has an empty pattern");
      if (route.is_string()) {
        out->push_back({pattern, String(where, route)});
        continue;
      }
      if (!route.is_object()) Fail(where, "a queue name or {\"queue\": NAME}", route);
      const Json* queue = route.Find("queue");
      if (queue == nullptr) Fail(where, "a queue name or {\"queue\": NAME}", route);
      out->push_back({pattern, String(where + "[\"queue\"]", *queue)});
      for (const auto& [option, value] : route.as_object()) {
        (void)value;
        if (option != "queue") {
          warnings->push_back(source_ + ": ignoring '" + option + "' in " + where +
                              " (cworker routes by queue name only)");
        }
      }
    }
  }

 private:
  static std::string Shorten(std::string text) {
    constexpr size_t kMax = 60;
    if (text.size() > kMax) text = text.substr(0, kMax) + "...";
    return text;
  }

  const std::string& source_;
};

}  // namespace

ConfigFile ParseConfig(std::string_view text, const std::string& source) {
  Json root;
  try {
    root = Json::Parse(text);
  } catch (const JsonError& e) {
    throw ConfigError(source + ": not valid JSON: " + e.what());
  }
  if (!root.is_object()) {
    throw ConfigError(source + ": expected a JSON object of settings, got " +
                      root.python_type_name());
  }
  const Reader r(source);
  ConfigFile c;
  for (const auto& [key, v] : root.as_object()) {
    if (key == "broker_url") {
      c.broker_url = r.String(key, v);
    } else if (key == "result_backend") {
      c.result_backend = v.is_null() ? std::string() : r.String(key, v, /*allow_empty=*/true);
    } else if (key == "task_routes") {
      c.task_routes.clear();  // a repeated key replaces, as in a Python dict
      r.Routes(key, v, &c.task_routes, &c.warnings);
    } else if (key == "task_default_queue") {
      c.task_default_queue = r.String(key, v);
    } else if (key == "task_acks_late") {
      c.task_acks_late = r.Bool(key, v);
    } else if (key == "result_expires") {
      c.result_expires = static_cast<int>(r.Count(key, v, 0));
    } else if (key == "result_extended") {
      c.result_extended = r.Bool(key, v);
    } else if (key == "task_track_started") {
      c.task_track_started = r.Bool(key, v);
    } else if (key == "worker_prefetch_multiplier") {
      c.worker_prefetch_multiplier = static_cast<int>(r.Count(key, v, std::nullopt));
    } else if (key == "worker_concurrency") {
      c.worker_concurrency = static_cast<int>(r.Count(key, v, 0));
    } else if (key == "worker_state_db") {
      c.worker_state_db = v.is_null() ? std::string() : r.String(key, v, /*allow_empty=*/true);
    } else if (key == "worker_send_task_events") {
      c.worker_send_task_events = r.Bool(key, v);
    } else if (key == "task_reject_on_worker_lost") {
      c.task_reject_on_worker_lost = r.Bool(key, v);
    } else if (key == "worker_max_tasks_per_child") {
      c.worker_max_tasks_per_child = static_cast<int>(r.Count(key, v, 0));
    } else if (key == "worker_max_memory_per_child") {
      c.worker_max_memory_per_child = r.Count(key, v, 0, std::numeric_limits<int64_t>::max());
    } else if (key == "broker_transport_options") {
      r.TransportOptions(key, v, &c);
    } else if (key == "result_backend_transport_options") {
      r.BackendTransportOptions(key, v, &c);
    } else if (key == "worker_eta_task_limit") {
      c.worker_eta_task_limit =
          static_cast<size_t>(r.Count(key, v, 0, std::numeric_limits<int64_t>::max()));
    } else {
      c.warnings.push_back(source + ": ignoring unknown or unsupported setting '" + key + "'");
    }
  }
  return c;
}

ConfigFile LoadConfigFile(const std::string& path) {
  std::error_code ec;
  if (std::filesystem::is_directory(path, ec)) {
    throw ConfigError(path + ": cannot read: " + std::strerror(EISDIR));
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    throw ConfigError(path + ": cannot read: " + std::strerror(errno));
  }
  std::ostringstream text;
  text << in.rdbuf();
  if (in.bad()) throw ConfigError(path + ": cannot read: " + std::strerror(errno));
  return ParseConfig(text.str(), path);
}

}  // namespace cw::cli

#include "util/log.h"

#include <cctype>
#include <memory>
#include <string>

#include <spdlog/pattern_formatter.h>
#include <spdlog/sinks/stdout_sinks.h>

namespace cw::log {
namespace {

// spdlog's own level names are lower-case and say "warning" differently; Celery's log tooling
// greps for INFO/WARNING/ERROR, so the level is printed by this flag (%*) instead.
class CeleryLevelFlag : public spdlog::custom_flag_formatter {
 public:
  void format(const spdlog::details::log_msg& msg, const std::tm&,
              spdlog::memory_buf_t& dest) override {
    const std::string_view name = CeleryLevelName(msg.level);
    dest.append(name.data(), name.data() + name.size());
  }
  std::unique_ptr<custom_flag_formatter> clone() const override {
    return std::make_unique<CeleryLevelFlag>();
  }
};

}  // namespace

std::string_view CeleryLevelName(spdlog::level::level_enum level) {
  switch (level) {
    case spdlog::level::trace:
    case spdlog::level::debug:
      return "DEBUG";
    case spdlog::level::info:
      return "INFO";
    case spdlog::level::warn:
      return "WARNING";
    case spdlog::level::err:
      return "ERROR";
    case spdlog::level::critical:
      return "CRITICAL";
    default:
      return "NOTSET";
  }
}

bool ParseLevel(std::string_view name, spdlog::level::level_enum* out) {
  std::string upper;
  for (char c : name) upper.push_back(static_cast<char>(std::toupper(static_cast<unsigned char>(c))));
  if (upper == "DEBUG") {
    *out = spdlog::level::debug;
  } else if (upper == "INFO") {
    *out = spdlog::level::info;
  } else if (upper == "WARNING" || upper == "WARN") {
    *out = spdlog::level::warn;
  } else if (upper == "ERROR") {
    *out = spdlog::level::err;
  } else if (upper == "CRITICAL" || upper == "FATAL") {
    *out = spdlog::level::critical;
  } else {
    return false;
  }
  return true;
}

void Setup(spdlog::level::level_enum level, std::string process_name) {
  auto sink = std::make_shared<spdlog::sinks::stderr_sink_mt>();
  auto logger = std::make_shared<spdlog::logger>("cworker", sink);
  auto formatter = std::make_unique<spdlog::pattern_formatter>();
  // asctime as Python's logging prints it: "2026-11-24 03:25:03,388" (local time).
  formatter->add_flag<CeleryLevelFlag>('*').set_pattern("[%Y-%m-%d %H:%M:%S,%e: %*/" +
                                                        process_name + "] %v");
  logger->set_formatter(std::move(formatter));
  logger->set_level(level);
  logger->flush_on(spdlog::level::trace);  // a worker's log is read live; never buffer
  spdlog::set_default_logger(std::move(logger));
}

}  // namespace cw::log

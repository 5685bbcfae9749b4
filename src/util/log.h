// Logging in Celery 5's format, over spdlog:
//   [2026-01-01 12:00:00,123: INFO/MainProcess] Task tasks.add[<id>] received
// so log tooling written for Celery workers keeps working.
#pragma once

#include <string>
#include <string_view>

#include <spdlog/spdlog.h>

namespace cw::log {

/// Maps Celery's level names (DEBUG, INFO, WARNING, ERROR, CRITICAL, FATAL; any case) to spdlog.
/// Returns false on an unknown name.
bool ParseLevel(std::string_view name, spdlog::level::level_enum* out);

/// Installs the default logger: stderr, Celery's record format, `process_name` after the level
/// ("MainProcess", later "ForkPoolWorker-1" in prefork children).
void Setup(spdlog::level::level_enum level, std::string process_name = "MainProcess");

/// Celery's name of an spdlog level ("WARNING" for warn).
std::string_view CeleryLevelName(spdlog::level::level_enum level);

}  // namespace cw::log

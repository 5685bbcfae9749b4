// The start-up banner, laid out as Celery 5 prints it, so people and scripts used to a Celery
// worker's banner find the same lines (".> concurrency: 1 (solo)").
#pragma once

#include <string>
#include <vector>

#include "cli/module_loader.h"
#include "worker/worker.h"

namespace cw::cli {

std::string Banner(const worker::WorkerOptions& options, const LoadedModule& module,
                   bool list_tasks);

}  // namespace cw::cli

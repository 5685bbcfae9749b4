#include "cli/module_loader.h"

#include <dlfcn.h>
#include <unistd.h>

#include <filesystem>
#include <system_error>

#include <cworker/io.h>
#include <cworker/task.h>

namespace cw::cli {
namespace fs = std::filesystem;

namespace {

std::vector<fs::path> Candidates(const std::string& app) {
  if (app.find('/') != std::string::npos || app.ends_with(".so")) return {fs::path(app)};
  const std::vector<std::string> names = {"lib" + app + ".so", app + ".so"};
  std::vector<fs::path> dirs = {fs::current_path()};
  const std::string path_env = GetEnv("CWORKER_PATH");
  for (size_t start = 0; start <= path_env.size() && !path_env.empty();) {
    const size_t colon = path_env.find(':', start);
    const std::string dir = path_env.substr(start, colon - start);
    if (!dir.empty()) dirs.emplace_back(dir);
    if (colon == std::string::npos) break;
    start = colon + 1;
  }
  std::error_code ec;
  const fs::path exe = fs::read_symlink("/proc/self/exe", ec);
  if (!ec) dirs.push_back(exe.parent_path().parent_path() / "lib");
  std::vector<fs::path> out;
  for (const auto& dir : dirs) {
    for (const auto& name : names) out.push_back(dir / name);
  }
  return out;
}

}  // namespace

LoadedModule LoadTaskModule(const std::string& app) {
  std::string tried;
  for (const fs::path& candidate : Candidates(app)) {
    std::error_code ec;
    if (!fs::exists(candidate, ec)) {
      tried += "\n  " + candidate.string();
      continue;
    }
    Registry& registry = Registry::Global();
    void* handle = dlopen(candidate.c_str(), RTLD_NOW | RTLD_LOCAL);
    if (handle == nullptr) {
      throw ModuleLoadError("cannot load " + candidate.string() + ": " + dlerror());
    }
    using InfoFn = const detail::ModuleInfo* (*)();
    auto info_fn = reinterpret_cast<InfoFn>(dlsym(handle, "cworker_module_v1"));
    if (info_fn == nullptr) {
      throw ModuleLoadError(candidate.string() +
                            " is not a cworker task library (no CW_MODULE(\"name\") in it)");
    }
    const detail::ModuleInfo* info = info_fn();
    if (info->abi_version != detail::kAbiVersion) {
      throw ModuleLoadError(candidate.string() + " was built for task ABI " +
                            std::to_string(info->abi_version) + ", this worker speaks " +
                            std::to_string(detail::kAbiVersion) + ": rebuild it");
    }
    LoadedModule loaded;
    loaded.path = fs::absolute(candidate).string();
    loaded.name = info->module_name;
    loaded.task_names = registry.CommitModule(loaded.name);
    loaded.handle = handle;
    return loaded;
  }
  throw ModuleLoadError("Unable to load task library. The module " + app +
                        " was not found; looked for:" + tried);
}

}  // namespace cw::cli

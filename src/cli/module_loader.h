// `-A tasks`: finds and loads the user's task library, as `celery -A tasks` imports `tasks`.
#pragma once

#include <stdexcept>
#include <string>
#include <vector>

namespace cw::cli {

struct LoadedModule {
  std::string path;         ///< the .so that was loaded
  std::string name;         ///< its CW_MODULE name
  std::vector<std::string> task_names;
  const void* handle = nullptr;
};

class ModuleLoadError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

/// Search order for a bare NAME: ./libNAME.so, ./NAME.so, then each directory of
/// $CWORKER_PATH (colon-separated), then <executable dir>/../lib (the build tree). A value
/// containing '/' or ending in ".so" is used as a path. Throws ModuleLoadError with the places
/// tried, or when the library lacks CW_MODULE or was built for another ABI version.
LoadedModule LoadTaskModule(const std::string& app);

}  // namespace cw::cli

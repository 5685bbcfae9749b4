#include "fixtures.h"

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>

namespace cw::testing {

namespace fs = std::filesystem;

std::string RepoRoot() {
  if (const char* env = std::getenv("CW_REPO_ROOT"); env != nullptr && *env != '\0') return env;
  fs::path dir = fs::current_path();
  for (fs::path p = dir; !p.empty(); p = p.parent_path()) {
    if (fs::is_directory(p / "protocol" / "fixtures")) return p.string();
    if (p == p.parent_path()) break;
  }
#ifdef CW_SOURCE_ROOT
  return CW_SOURCE_ROOT;
#else
  return dir.string();
#endif
}

std::string ReadFixture(std::string_view relative_path) {
  const fs::path path = fs::path(RepoRoot()) / fs::path(relative_path);
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("cannot open fixture " + path.string());
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

std::vector<std::string> ListFixtures(std::string_view relative_dir, std::string_view suffix) {
  std::vector<std::string> names;
  const fs::path dir = fs::path(RepoRoot()) / fs::path(relative_dir);
  if (!fs::is_directory(dir)) throw std::runtime_error("no fixture folder " + dir.string());
  for (const auto& entry : fs::directory_iterator(dir)) {
    const std::string name = entry.path().filename().string();
    if (name.size() >= suffix.size() &&
        name.compare(name.size() - suffix.size(), suffix.size(), suffix) == 0) {
      names.push_back(name);
    }
  }
  std::sort(names.begin(), names.end());
  return names;
}

std::string_view StripNewline(std::string_view text) {
  if (!text.empty() && text.back() == '\n') text.remove_suffix(1);
  return text;
}

}  // namespace cw::testing

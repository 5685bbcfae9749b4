// Test fixtures: files under the repository root (protocol/fixtures/...).
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace cw::testing {

/// The repository root: $CW_REPO_ROOT if set, else the working directory or its first parent
/// holding protocol/fixtures (ctest runs the tests from the root), else the source tree the
/// binary was built from.
std::string RepoRoot();
/// The exact bytes of `relative_path` (relative to the root). Fails the test (throws) if absent.
std::string ReadFixture(std::string_view relative_path);
/// The file names (not paths) in a fixture folder that end in `suffix`, sorted.
std::vector<std::string> ListFixtures(std::string_view relative_dir, std::string_view suffix);
/// `text` without one trailing "\n" (the capture tools end message files with one).
std::string_view StripNewline(std::string_view text);

}  // namespace cw::testing

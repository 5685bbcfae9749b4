// Replays the fuzz target over every kept regression input (protocol/fuzz/regressions, the
// first byte picks the decoder, as in the fuzzer) and over every captured fixture through each
// of the three decoders, in the ordinary build and under the sanitizers. A crash the fuzzer
// once found stays found here.
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);

namespace {

namespace fs = std::filesystem;

fs::path SourceRoot() {
  if (const char* root = std::getenv("CW_REPO_ROOT"); root != nullptr && *root != '\0') {
    return root;
  }
  return CW_SOURCE_ROOT;
}

std::string Read(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::vector<fs::path> FilesUnder(const fs::path& dir) {
  std::vector<fs::path> files;
  for (const auto& entry : fs::recursive_directory_iterator(dir)) {
    if (entry.is_regular_file() && entry.path().filename() != "README.md") {
      files.push_back(entry.path());
    }
  }
  return files;
}

void Feed(const std::string& input) {
  LLVMFuzzerTestOneInput(reinterpret_cast<const uint8_t*>(input.data()), input.size());
}

TEST(FuzzReplay, KeptRegressionInputs) {
  const std::vector<fs::path> files = FilesUnder(SourceRoot() / "protocol/fuzz/regressions");
  ASSERT_GE(files.size(), 10u);
  for (const fs::path& file : files) {
    SCOPED_TRACE(file.string());
    Feed(Read(file));
  }
}

TEST(FuzzReplay, CapturedFixturesThroughEveryDecoder) {
  const std::vector<fs::path> files = FilesUnder(SourceRoot() / "protocol/fixtures");
  ASSERT_GE(files.size(), 40u);
  for (const fs::path& file : files) {
    SCOPED_TRACE(file.string());
    const std::string text = Read(file);
    for (char mode : {'\0', '\1', '\2'}) Feed(std::string(1, mode) + text);
  }
}

}  // namespace

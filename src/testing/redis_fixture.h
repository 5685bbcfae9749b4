// Test-only helpers for the redis tier (`*_redistest.cc`): the Redis that
// scripts/with-redis.sh started (CW_TEST_REDIS_URL), and fixture files from protocol/fixtures.
#pragma once

#include <cstdlib>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <string>

#include "redis/connection.h"

namespace cw::testing {

/// The test Redis with database `db`. Throws when CW_TEST_REDIS_URL is unset: these tests are
/// always run through scripts/with-redis.sh by ctest.
inline std::string Env(const char* name, const char* fallback) {
  const char* v = std::getenv(name);  // NOLINT(concurrency-mt-unsafe): tests read it once
  return v != nullptr && *v != '\0' ? v : fallback;
}

inline redis::Url TestRedisUrl(int db = 0) {
  const std::string text = Env("CW_TEST_REDIS_URL", "");
  if (text.empty()) throw std::runtime_error("CW_TEST_REDIS_URL is not set (run via ctest)");
  std::string error;
  auto url = redis::Url::Parse(text, &error);
  if (!url) throw std::runtime_error(error);
  url->db = db;
  return *url;
}

/// A captured message from protocol/fixtures/<version>, without its trailing newline.
inline std::string CapturedMessage(const std::string& name,
                                   const std::string& version = "celery-5.2.6") {
  const std::string root = Env("CW_REPO_ROOT", ".");
  std::ifstream in(root + "/protocol/fixtures/" + version + "/" + name + ".message.json",
                   std::ios::binary);
  if (!in) throw std::runtime_error("missing fixture " + name);
  std::stringstream ss;
  ss << in.rdbuf();
  std::string text = ss.str();
  while (!text.empty() && (text.back() == '\n' || text.back() == '\r')) text.pop_back();
  return text;
}

}  // namespace cw::testing

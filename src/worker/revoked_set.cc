#include "worker/revoked_set.h"

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <stdexcept>

#include <cworker/json.h>

namespace cw::worker {
namespace {

long EnvOr(const char* name, long fallback) {
  const char* v = std::getenv(name);
  if (v == nullptr || *v == '\0') return fallback;
  char* end = nullptr;
  const long n = std::strtol(v, &end, 10);
  return (end != nullptr && *end == '\0' && n > 0) ? n : fallback;
}

double ToUnix(RevokedSet::Clock::time_point t) {
  return std::chrono::duration<double>(t.time_since_epoch()).count();
}

RevokedSet::Clock::time_point FromUnix(double s) {
  return RevokedSet::Clock::time_point(
      std::chrono::duration_cast<RevokedSet::Clock::duration>(std::chrono::duration<double>(s)));
}

}  // namespace

RevokedSet::RevokedSet(size_t max_size, std::chrono::seconds expires)
    : max_size_(max_size), expires_(expires) {}

RevokedSet RevokedSet::FromEnvironment() {
  return RevokedSet(static_cast<size_t>(EnvOr("CELERY_WORKER_REVOKES_MAX", 50000)),
                    std::chrono::seconds(EnvOr("CELERY_WORKER_REVOKE_EXPIRES", 10800)));
}

void RevokedSet::Purge(Clock::time_point now) {
  while (!order_.empty() &&
         (order_.begin()->first + expires_ <= now || order_.size() > max_size_)) {
    added_.erase(order_.begin()->second);
    order_.erase(order_.begin());
  }
}

void RevokedSet::Add(const std::string& id, Clock::time_point when) {
  if (auto it = added_.find(id); it != added_.end()) {  // revoked again: the clock restarts
    auto range = order_.equal_range(it->second);
    for (auto o = range.first; o != range.second; ++o) {
      if (o->second == id) {
        order_.erase(o);
        break;
      }
    }
  }
  added_[id] = when;
  order_.emplace(when, id);
  Purge(Clock::now());
}

bool RevokedSet::Contains(const std::string& id, Clock::time_point now) const {
  auto it = added_.find(id);
  return it != added_.end() && it->second + expires_ > now;
}

std::vector<std::string> RevokedSet::Ids(Clock::time_point now) const {
  std::vector<std::string> ids;
  for (const auto& [when, id] : order_) {
    if (when + expires_ > now) ids.push_back(id);
  }
  return ids;
}

void RevokedSet::Load(const std::string& path) {
  std::ifstream in(path);
  if (!in) return;  // first start: nothing saved yet
  std::stringstream text;
  text << in.rdbuf();
  Json doc;
  try {
    doc = Json::Parse(text.str());
  } catch (const std::exception& e) {
    throw std::runtime_error("state db " + path + " is not valid JSON: " + e.what());
  }
  const Json* revoked = doc.is_object() ? doc.Find("revoked") : nullptr;
  if (revoked == nullptr || !revoked->is_object()) {
    throw std::runtime_error("state db " + path + " has no \"revoked\" object");
  }
  for (const auto& [id, when] : revoked->as_object()) {
    if (when.is_number()) Add(id, FromUnix(when.as_double()));
  }
}

void RevokedSet::Save(const std::string& path) const {
  Json::Object revoked;  // ids are unique already: no Set() lookups for 50000 of them
  revoked.reserve(order_.size());
  for (const auto& [when, id] : order_) revoked.emplace_back(id, ToUnix(when));
  const std::string body = Json::MakeObject({{"revoked", Json(std::move(revoked))}}).Dump();
  const std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp, std::ios::trunc);
    out << body << '\n';
    out.flush();
    if (!out) throw std::runtime_error("cannot write " + tmp);
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    throw std::runtime_error("cannot rename " + tmp + " to " + path);
  }
}

}  // namespace cw::worker

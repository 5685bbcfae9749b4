#include "redis/key_prefix.h"

#include <algorithm>
#include <array>
#include <cctype>
#include <charconv>
#include <string>

namespace cw::redis {
namespace {

std::string Upper(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return out;
}

// Commands whose first argument is the one key.
constexpr std::array kFirstArgKey = {
    "APPEND",  "DECR",      "DECRBY",  "EXPIRE",        "EXPIREAT",         "GET",     "GETDEL",
    "HDEL",    "HEXISTS",   "HGET",    "HGETALL",       "HINCRBY",          "HKEYS",   "HLEN",
    "HMGET",   "HSET",      "HSETNX",  "INCR",          "INCRBY",           "LINDEX",  "LLEN",
    "LPOP",    "LPUSH",     "LRANGE",  "LREM",          "LTRIM",            "PERSIST", "PEXPIRE",
    "PTTL",    "PUBLISH",   "RPOP",    "RPUSH",         "SADD",             "SCARD",   "SET",
    "SETEX",   "SISMEMBER", "SMEMBERS", "SREM",         "TTL",              "TYPE",    "ZADD",
    "ZCARD",   "ZINCRBY",   "ZRANGE",  "ZRANGEBYSCORE", "ZREVRANGEBYSCORE", "ZREM",    "ZSCORE",
    "PSETEX",  "GETSET"};
// Commands whose every argument is a key (or, for pub/sub, a channel or pattern).
constexpr std::array kAllArgsKeys = {"DEL",       "EXISTS",      "MGET",       "UNLINK",
                                     "WATCH",     "SUBSCRIBE",   "PSUBSCRIBE", "UNSUBSCRIBE",
                                     "PUNSUBSCRIBE"};

template <size_t N>
bool In(const std::array<const char*, N>& table, const std::string& name) {
  return std::any_of(table.begin(), table.end(), [&](const char* c) { return name == c; });
}

}  // namespace

std::vector<size_t> KeyPositions(std::span<const std::string_view> argv) {
  std::vector<size_t> keys;
  if (argv.size() < 2) return keys;
  const std::string name = Upper(argv[0]);
  if (In(kFirstArgKey, name)) {
    keys.push_back(1);
  } else if (In(kAllArgsKeys, name)) {
    for (size_t i = 1; i < argv.size(); ++i) {
      if (!argv[i].starts_with("__redis__:")) keys.push_back(i);  // Redis's own channels
    }
  } else if (name == "BRPOP" || name == "BLPOP") {
    for (size_t i = 1; i + 1 < argv.size(); ++i) keys.push_back(i);  // the last is the timeout
  } else if (name == "RENAME" || name == "RPOPLPUSH" || name == "LMOVE") {
    keys.push_back(1);
    if (argv.size() > 2) keys.push_back(2);
  } else if (name == "EVAL" || name == "EVALSHA") {
    size_t numkeys = 0;
    if (argv.size() > 2) {
      std::from_chars(argv[2].data(), argv[2].data() + argv[2].size(), numkeys);
    }
    for (size_t i = 3; i < argv.size() && i < 3 + numkeys; ++i) keys.push_back(i);
  }
  return keys;
}

std::string_view StripPrefix(std::string_view key, std::string_view prefix) {
  return !prefix.empty() && key.starts_with(prefix) ? key.substr(prefix.size()) : key;
}

}  // namespace cw::redis

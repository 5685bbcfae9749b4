// kombu 5.3's global_keyprefix, done where cworker talks to Redis: every key and pub/sub
// channel a command names gets the prefix, so several applications can share one Redis. Which
// arguments are keys is a table per command, as kombu's GlobalKeyPrefixMixin and
// PrefixedRedisPubSub keep one; Redis's own channels (__redis__:...) are never prefixed.
#pragma once

#include <span>
#include <string_view>
#include <vector>

namespace cw::redis {

/// Positions in `argv` (argv[0] is the command) of the arguments that name keys or channels.
std::vector<size_t> KeyPositions(std::span<const std::string_view> argv);

/// `key` without `prefix` when it starts with it (a key Redis returned, e.g. BRPOP's).
std::string_view StripPrefix(std::string_view key, std::string_view prefix);

}  // namespace cw::redis

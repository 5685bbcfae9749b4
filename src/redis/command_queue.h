// The written-behind commands of one connection that Redis has not answered yet, in the order
// they went out, each kept as the bytes it goes on the wire as (RESP, key prefix applied) so a
// reconnect sends the same bytes again.
//
// All commands share one byte buffer that keeps its capacity, and this writes the RESP itself:
// queuing a command allocates nothing in the steady state (it was one malloc'd buffer per
// command from hiredis's formatter, three per task). Answered bytes are reclaimed when the
// queue empties, or by moving the live ones down once they are the smaller part.
#pragma once

#include <cstddef>
#include <deque>
#include <span>
#include <string>
#include <string_view>

namespace cw::redis {

class CommandQueue {
 public:
  size_t size() const { return entries_.size(); }
  bool empty() const { return entries_.empty(); }
  /// The bytes of command `i` (0 is the oldest); valid until the next push or pop.
  std::string_view operator[](size_t i) const;
  std::string_view front() const { return (*this)[0]; }
  /// Bytes kept: the queued commands' and answered ones not reclaimed yet.
  size_t bytes_held() const { return bytes_.size(); }

  /// Queues `argv` as RESP, with `prefix` on each argument that names a key.
  void PushCommand(std::span<const std::string_view> argv, std::string_view prefix);
  /// Queues already formatted bytes last / first (a command sent again).
  void PushBack(std::string_view bytes);
  void PushFront(std::string_view bytes);
  void PopFront();

 private:
  struct Entry {
    size_t offset;
    size_t size;
  };
  size_t Append(std::string_view bytes);
  void ReclaimIfMostlyDead();

  std::deque<Entry> entries_;
  std::string bytes_;  ///< every queued command's bytes, and answered ones not yet reclaimed
  std::string spare_;  ///< the buffer the live bytes move to when reclaiming (keeps capacity)
  size_t live_ = 0;    ///< bytes of the queued commands
};

/// The RESP array of bulk strings for `argv`, `prefix` on its keys, appended to `out`.
void AppendResp(std::span<const std::string_view> argv, std::string_view prefix, std::string* out);

}  // namespace cw::redis

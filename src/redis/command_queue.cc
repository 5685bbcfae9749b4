#include "redis/command_queue.h"

#include <charconv>
#include <vector>

#include "redis/key_prefix.h"

namespace cw::redis {
namespace {

constexpr size_t kReclaimAbove = 64 * 1024;  // dead bytes worth moving the live ones for

void AppendLength(char kind, size_t n, std::string* out) {
  char digits[24];
  const auto [end, ec] = std::to_chars(digits, digits + sizeof digits, n);
  out->push_back(kind);
  out->append(digits, static_cast<size_t>(end - digits));
  out->append("\r\n");
}

void AppendBulk(std::string_view prefix, std::string_view arg, std::string* out) {
  AppendLength('$', prefix.size() + arg.size(), out);
  out->append(prefix);
  out->append(arg);
  out->append("\r\n");
}

}  // namespace

void AppendResp(std::span<const std::string_view> argv, std::string_view prefix, std::string* out) {
  AppendLength('*', argv.size(), out);
  if (prefix.empty()) {
    for (const std::string_view arg : argv) AppendBulk({}, arg, out);
    return;
  }
  const std::vector<size_t> keys = KeyPositions(argv);  // only with a global_keyprefix
  size_t next_key = 0;
  for (size_t i = 0; i < argv.size(); ++i) {
    const bool is_key = next_key < keys.size() && keys[next_key] == i;
    if (is_key) ++next_key;
    AppendBulk(is_key ? prefix : std::string_view(), argv[i], out);
  }
}

std::string_view CommandQueue::operator[](size_t i) const {
  const Entry& e = entries_[i];
  return std::string_view(bytes_).substr(e.offset, e.size);
}

void CommandQueue::PushCommand(std::span<const std::string_view> argv, std::string_view prefix) {
  const size_t offset = bytes_.size();
  AppendResp(argv, prefix, &bytes_);
  entries_.push_back({offset, bytes_.size() - offset});
  live_ += bytes_.size() - offset;
}

size_t CommandQueue::Append(std::string_view bytes) {
  if (bytes.data() >= bytes_.data() && bytes.data() < bytes_.data() + bytes_.size()) {
    const std::string copy(bytes);  // a view into this buffer, which the append may move
    return Append(copy);
  }
  const size_t offset = bytes_.size();
  bytes_.append(bytes);
  live_ += bytes.size();
  return offset;
}

void CommandQueue::PushBack(std::string_view bytes) {
  const size_t offset = Append(bytes);
  entries_.push_back({offset, bytes.size()});
}

void CommandQueue::PushFront(std::string_view bytes) {
  const size_t offset = Append(bytes);
  entries_.push_front({offset, bytes.size()});
}

void CommandQueue::PopFront() {
  live_ -= entries_.front().size;
  entries_.pop_front();
  if (entries_.empty()) {
    bytes_.clear();  // the usual way the buffer is reclaimed: everything answered
    live_ = 0;
    return;
  }
  ReclaimIfMostlyDead();
}

void CommandQueue::ReclaimIfMostlyDead() {
  const size_t dead = bytes_.size() - live_;
  if (dead < kReclaimAbove || dead < live_) return;
  spare_.clear();
  for (Entry& e : entries_) {
    const size_t offset = spare_.size();
    spare_.append(bytes_, e.offset, e.size);
    e.offset = offset;
  }
  bytes_.swap(spare_);
}

}  // namespace cw::redis

#include "util/scratch_string.h"

#include <utility>
#include <vector>

namespace cw::util {
namespace {

// Enough for every fiber of a busy green pool to hold a couple at once (they hold one across a
// loop turn), bounded in bytes so one huge result does not stay around.
constexpr size_t kMaxKept = 4096;
constexpr size_t kMaxKeptBytes = 4 << 20;  // capacity kept per thread, all buffers together
constexpr size_t kMaxKeptCapacity = 1 << 20;  // one buffer grown beyond this is freed

struct FreeList {
  std::vector<std::string> buffers;
  size_t bytes = 0;
};

FreeList& ThisThreadsList() {
  thread_local FreeList list;
  return list;
}

}  // namespace

ScratchString::ScratchString() {
  FreeList& list = ThisThreadsList();
  if (!list.buffers.empty()) {
    text_ = std::move(list.buffers.back());
    list.buffers.pop_back();
    list.bytes -= text_.capacity();
    text_.clear();
  }
}

ScratchString::~ScratchString() {
  FreeList& list = ThisThreadsList();
  const size_t capacity = text_.capacity();
  if (capacity <= kMaxKeptCapacity && list.buffers.size() < kMaxKept &&
      list.bytes + capacity <= kMaxKeptBytes) {
    list.bytes += capacity;
    list.buffers.push_back(std::move(text_));
  }
}

}  // namespace cw::util

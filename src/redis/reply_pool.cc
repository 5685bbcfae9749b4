#include "redis/reply_pool.h"

#include <hiredis/hiredis.h>

#include <array>
#include <cstddef>
#include <cstdlib>
#include <cstring>
#include <new>
#include <vector>

namespace cw::redis {
namespace {

#if defined(__SANITIZE_ADDRESS__)
constexpr bool kKeepBlocks = false;
#else
constexpr bool kKeepBlocks = true;
#endif

// Block sizes (header and reply and text): an integer or a short status fits the first; a
// fetched message of about a kilobyte the fourth or fifth.
constexpr std::array<size_t, 6> kClassSizes = {64, 128, 256, 512, 1024, 2048};
constexpr size_t kUnpooled = kClassSizes.size();
constexpr size_t kMaxKeptPerClass = 1024;

// What precedes the redisReply in a block: which class it came from.
struct alignas(std::max_align_t) BlockHeader {
  size_t size_class;
};

struct FreeLists {
  std::array<std::vector<void*>, kClassSizes.size()> blocks;
  ~FreeLists() {
    for (auto& list : blocks) {
      for (void* b : list) std::free(b);
    }
  }
};

FreeLists& ThisThreadsLists() {
  thread_local FreeLists lists;
  return lists;
}

size_t ClassFor(size_t bytes) {
  for (size_t c = 0; c < kClassSizes.size(); ++c) {
    if (bytes <= kClassSizes[c]) return c;
  }
  return kUnpooled;
}

// A zeroed reply of `type` with room for `text_len` bytes of text (and a NUL) after it.
redisReply* NewReply(int type, size_t text_len) {
  const size_t bytes = sizeof(BlockHeader) + sizeof(redisReply) + text_len + 1;
  const size_t c = ClassFor(bytes);
  void* block = nullptr;
  if (c != kUnpooled) {
    std::vector<void*>& list = ThisThreadsLists().blocks[c];
    if (!list.empty()) {
      block = list.back();
      list.pop_back();
    } else {
      block = std::malloc(kClassSizes[c]);
    }
  } else {
    block = std::malloc(bytes);
  }
  if (block == nullptr) return nullptr;
  static_cast<BlockHeader*>(block)->size_class = c;
  auto* r = reinterpret_cast<redisReply*>(static_cast<char*>(block) + sizeof(BlockHeader));
  std::memset(r, 0, sizeof(redisReply));
  r->type = type;
  return r;
}

void FreeBlock(redisReply* r) {
  void* block = reinterpret_cast<char*>(r) - sizeof(BlockHeader);
  const size_t c = static_cast<BlockHeader*>(block)->size_class;
  if (kKeepBlocks && c != kUnpooled) {
    std::vector<void*>& list = ThisThreadsLists().blocks[c];
    if (list.size() < kMaxKeptPerClass) {
      list.push_back(block);
      return;
    }
  }
  std::free(block);
}

// Links a new reply into its parent array, as hiredis's own builders do.
void* Attach(const redisReadTask* task, redisReply* r) {
  if (r != nullptr && task->parent != nullptr) {
    auto* parent = static_cast<redisReply*>(task->parent->obj);
    parent->element[task->idx] = r;
  }
  return r;
}

void* CreateString(const redisReadTask* task, char* str, size_t len) {
  redisReply* r = NewReply(task->type, len);
  if (r == nullptr) return nullptr;
  char* text = reinterpret_cast<char*>(r + 1);
  std::memcpy(text, str, len);
  text[len] = '\0';
  r->str = text;
  r->len = len;
  return Attach(task, r);
}

void* CreateArray(const redisReadTask* task, int elements) {
  redisReply* r = NewReply(REDIS_REPLY_ARRAY, 0);
  if (r == nullptr) return nullptr;
  if (elements > 0) {
    r->element = static_cast<redisReply**>(
        std::calloc(static_cast<size_t>(elements), sizeof(redisReply*)));
    if (r->element == nullptr) {
      FreeBlock(r);
      return nullptr;
    }
  }
  r->elements = static_cast<size_t>(elements > 0 ? elements : 0);
  return Attach(task, r);
}

void* CreateInteger(const redisReadTask* task, long long value) {
  redisReply* r = NewReply(REDIS_REPLY_INTEGER, 0);
  if (r == nullptr) return nullptr;
  r->integer = value;
  return Attach(task, r);
}

void* CreateNil(const redisReadTask* task) {
  return Attach(task, NewReply(REDIS_REPLY_NIL, 0));
}

}  // namespace

void FreePooledReply(void* reply) {
  auto* r = static_cast<redisReply*>(reply);
  if (r == nullptr) return;
  if (r->type == REDIS_REPLY_ARRAY) {
    for (size_t i = 0; i < r->elements; ++i) FreePooledReply(r->element[i]);
    std::free(r->element);
  }
  FreeBlock(r);
}

redisReplyObjectFunctions PooledReplyFunctions(void (*free_object)(void*)) {
  redisReplyObjectFunctions f{};
  f.createString = &CreateString;
  f.createArray = &CreateArray;
  f.createInteger = &CreateInteger;
  f.createNil = &CreateNil;
  f.freeObject = free_object;
  return f;
}

}  // namespace cw::redis

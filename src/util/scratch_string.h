// A string buffer lent from this thread's free list, for text built and copied out at once (a
// result record, a key): it keeps its capacity between uses, so the steady state allocates
// nothing. Each holder owns its buffer until it is destroyed, so a fiber that parks while
// holding one (a green pool task waiting on Redis) shares it with no one.
#pragma once

#include <string>

namespace cw::util {

class ScratchString {
 public:
  ScratchString();  ///< an empty buffer, with the capacity of its last use
  ~ScratchString();
  ScratchString(const ScratchString&) = delete;
  ScratchString& operator=(const ScratchString&) = delete;

  std::string& operator*() { return text_; }
  std::string* operator->() { return &text_; }
  std::string* get() { return &text_; }

 private:
  std::string text_;
};

}  // namespace cw::util

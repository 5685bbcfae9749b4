// Entries that come and go once per task (the held tags, the running requests) would cost a
// node allocation, and a string key's buffer, at every insert. These keep erased nodes and hand
// them out again: assigning a key of about the same length (a task id, a delivery tag) reuses
// its buffer, so the steady state allocates nothing.
#pragma once

#include <cstddef>
#include <utility>
#include <vector>

namespace cw::worker {

template <class Container>
class RecycledNodes {
 public:
  using Node = typename Container::node_type;

  /// A kept node, or an empty handle when there is none.
  Node Take() {
    if (spare_.empty()) return Node();
    Node node = std::move(spare_.back());
    spare_.pop_back();
    return node;
  }
  /// Erases `it` from `c`, keeping its node.
  void Erase(Container& c, typename Container::iterator it) {
    Node node = c.extract(it);
    if (spare_.size() < kMaxKept) spare_.push_back(std::move(node));
  }

 private:
  static constexpr size_t kMaxKept = 4096;
  std::vector<Node> spare_;
};

}  // namespace cw::worker

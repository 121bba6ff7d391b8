// A first-in first-out queue for the pending requests of one connection.
//
// Every connection of the node holds a few of these, nearly always with zero
// or one element. std::deque allocates about 600 bytes as soon as it is
// constructed, empty or not; this allocates nothing until the first push and
// then only what the elements need. Elements live in a vector from `head_`
// on; popping the front moves `head_`, and the vector is cleared (keeping
// its capacity) once it has been drained, so a steady one-at-a-time
// request/response flow never allocates again; a queue that is never
// drained is compacted when half of it has been popped.
#pragma once

#include <cstddef>
#include <utility>
#include <vector>

namespace redeye::util {

template <typename T>
class SmallFifo {
 public:
  using iterator = typename std::vector<T>::iterator;
  using const_iterator = typename std::vector<T>::const_iterator;
  using reverse_iterator = typename std::vector<T>::reverse_iterator;

  bool empty() const { return head_ == items_.size(); }
  size_t size() const { return items_.size() - head_; }

  T& front() { return items_[head_]; }
  const T& front() const { return items_[head_]; }
  T& back() { return items_.back(); }
  const T& back() const { return items_.back(); }
  T& operator[](size_t i) { return items_[head_ + i]; }
  const T& operator[](size_t i) const { return items_[head_ + i]; }

  void push_back(T item) { items_.push_back(std::move(item)); }
  template <typename... Args>
  T& emplace_back(Args&&... args) {
    return items_.emplace_back(std::forward<Args>(args)...);
  }
  void pop_front() {
    if (head_ + 1 == items_.size()) {
      clear();  // drained: the common case, one request at a time
      return;
    }
    items_[head_] = T{};  // release what the element holds now, not at the next drain
    if (++head_ >= 16 && head_ * 2 >= items_.size()) {
      // never drained (a pipeline always has one waiting): drop the popped
      // slots so the vector does not grow with every request
      items_.erase(items_.begin(), items_.begin() + static_cast<std::ptrdiff_t>(head_));
      head_ = 0;
    }
  }
  void clear() {
    items_.clear();
    head_ = 0;
  }

  iterator begin() { return items_.begin() + static_cast<std::ptrdiff_t>(head_); }
  iterator end() { return items_.end(); }
  const_iterator begin() const { return items_.begin() + static_cast<std::ptrdiff_t>(head_); }
  const_iterator end() const { return items_.end(); }
  reverse_iterator rbegin() { return items_.rbegin(); }
  reverse_iterator rend() { return items_.rend() - static_cast<std::ptrdiff_t>(head_); }

  iterator erase(iterator pos) { return items_.erase(pos); }
  iterator erase(iterator first, iterator last) { return items_.erase(first, last); }

 private:
  std::vector<T> items_;
  size_t head_ = 0;  // items_[0, head_) were popped
};

}  // namespace redeye::util

#include "bpf/ring_poller.h"

#include <chrono>
#include <thread>

namespace redeye::bpf {

int RingPoller::dispatch(void* ctx, void* data, size_t size) {
  (*static_cast<Handler*>(ctx))(data, size);
  return 0;
}

bool RingPoller::add(int map_fd, Handler handler) {
  if (map_fd < 0) return false;
  handlers_.push_back(std::make_unique<Handler>(std::move(handler)));
  void* ctx = handlers_.back().get();
  if (!ring_) {
    ring_.reset(ring_buffer__new(map_fd, &RingPoller::dispatch, ctx, nullptr));
    if (ring_) return true;
  } else if (ring_buffer__add(ring_.get(), map_fd, &RingPoller::dispatch, ctx) == 0) {
    return true;
  }
  handlers_.pop_back();
  return false;
}

void RingPoller::poll(int timeout_ms) {
  if (ring_) {
    ring_buffer__poll(ring_.get(), timeout_ms);
    // Rings written with BPF_RB_NO_WAKEUP never look ready to epoll: read
    // every ring after each wait, whatever woke us.
    ring_buffer__consume(ring_.get());
  } else {
    std::this_thread::sleep_for(std::chrono::milliseconds(timeout_ms));
  }
}

void RingPoller::consume() {
  if (ring_) ring_buffer__consume(ring_.get());
}

}  // namespace redeye::bpf

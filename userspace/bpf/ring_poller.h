// One epoll over every BPF ring buffer the agent reads, so the main loop
// waits on all of them at once.
#pragma once

#include <bpf/libbpf.h>

#include <functional>
#include <memory>
#include <vector>

namespace redeye::bpf {

class RingPoller {
 public:
  using Handler = std::function<void(const void* data, size_t size)>;

  // False when the map is missing (its object failed to load) or libbpf
  // refuses it; the caller's metrics then simply stay empty.
  bool add(int map_fd, Handler handler);
  // Handles what is queued, waiting at most timeout_ms for the first event;
  // sleeps when no ring buffer could be added.
  void poll(int timeout_ms);
  // Handles what is queued now, without waiting.
  void consume();

 private:
  static int dispatch(void* ctx, void* data, size_t size);

  std::vector<std::unique_ptr<Handler>> handlers_;  // stable addresses for libbpf
  std::unique_ptr<ring_buffer, decltype(&ring_buffer__free)> ring_{nullptr, ring_buffer__free};
};

}  // namespace redeye::bpf

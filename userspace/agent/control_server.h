// The agent's local-only endpoint, a unix socket (default
// /run/redeye/redeye.sock, mode 0600), so that `redeye trace` and
// `redeye top` attach to the running agent instead of loading a second copy
// of the probes. One request line per connection:
//   "trace <filter as flat JSON>" -> "ok", then one JSON event per line
//                                    ({"dropped":N} when the reader lagged)
//   "metrics"                    -> the Prometheus text of the agent's registry
// Anything else gets one "error: ..." line. Served by one thread with poll,
// at most kMaxClients at once; a slow client never blocks the agent.
#pragma once

#include <prometheus/registry.h>

#include <atomic>
#include <memory>
#include <stdexcept>
#include <string>
#include <thread>

namespace redeye::trace {
class EventTap;
}

namespace redeye::agent {

class ControlSocketError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

class ControlServer {
 public:
  static constexpr size_t kMaxClients = 16;

  // Creates the socket's directory when missing, replaces a stale socket,
  // refuses one another agent still answers on. Throws ControlSocketError.
  ControlServer(std::string path, trace::EventTap& tap, std::shared_ptr<prometheus::Registry> registry);
  ~ControlServer();
  ControlServer(const ControlServer&) = delete;
  ControlServer& operator=(const ControlServer&) = delete;

  const std::string& path() const { return path_; }

 private:
  struct Client;
  void serve();

  std::string path_;
  trace::EventTap& tap_;
  std::shared_ptr<prometheus::Registry> registry_;
  int listen_fd_ = -1;
  int wake_fd_ = -1;  // eventfd: stop
  ino_t inode_ = 0;   // our socket file, so that we unlink only ours
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

}  // namespace redeye::agent

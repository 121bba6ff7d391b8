// The client side of the agent's control socket (agent/control_server.h).
#pragma once

#include <optional>
#include <string>

namespace redeye::cli {

class ControlConnection {
 public:
  // Connects and sends one request line; nullopt-like (ok() false) when no
  // agent answers at `path` (missing socket, refused).
  ControlConnection(const std::string& path, const std::string& request);
  ~ControlConnection();
  ControlConnection(const ControlConnection&) = delete;
  ControlConnection& operator=(const ControlConnection&) = delete;

  bool ok() const { return fd_ >= 0; }
  int fd() const { return fd_; }
  // The next line (without '\n'), waiting at most timeout_ms; nullopt on
  // timeout; `closed` set when the agent closed the connection.
  std::optional<std::string> read_line(int timeout_ms, bool& closed);
  // Everything until the agent closes, waiting at most timeout_ms in all.
  std::optional<std::string> read_all(int timeout_ms);

 private:
  int fd_ = -1;
  std::string buffer_;
};

}  // namespace redeye::cli

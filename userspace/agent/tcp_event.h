// One TCP failure as the kernel reported it on the tcp_events ring: a
// connect that failed, a reset sent or received, a retransmitted segment.
#pragma once

#include <cstdint>
#include <string>

namespace redeye::agent {

struct TcpEvent {
  uint64_t time_ns = 0;  // CLOCK_MONOTONIC
  uint32_t tgid = 0;     // 0: the socket's owner is unknown
  std::string event;     // "connect_failed", "reset_sent", "reset_received", "retransmit"
  std::string reason;    // connect_failed: "refused", "timeout", "unreachable", "other"
  std::string peer;      // "127.0.0.1:5432"
  uint16_t local_port = 0;
};

class TcpEventSink {
 public:
  virtual ~TcpEventSink() = default;
  virtual void on_tcp_event(const TcpEvent& event) = 0;
};

}  // namespace redeye::agent

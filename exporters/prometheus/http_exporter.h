// The agent's HTTP listener: /metrics in the Prometheus text format,
// /healthz (the main loop is alive) and /readyz (probes attached and the
// first collection done), on civetweb.
#pragma once

#include <prometheus/registry.h>

#include <atomic>
#include <chrono>
#include <memory>
#include <stdexcept>
#include <string>

class CivetServer;
class CivetHandler;

namespace redeye::exporters {

struct HealthState {
  std::atomic<int64_t> last_tick_ms{0};  // steady clock, set by the main loop
  std::atomic<bool> ready{false};
  std::chrono::milliseconds stall_limit{10000};
  void tick();
  bool live() const;
};

class ListenError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

class HttpExporter {
 public:
  // listen: "ADDR:PORT" or "[V6ADDR]:PORT". Throws ListenError when the
  // address cannot be bound, with the reason.
  HttpExporter(const std::string& listen, std::shared_ptr<prometheus::Registry> registry, HealthState& health);
  ~HttpExporter();
  HttpExporter(const HttpExporter&) = delete;
  HttpExporter& operator=(const HttpExporter&) = delete;

  int port() const;

 private:
  std::unique_ptr<CivetServer> server_;
  // Where a connection to our own listener can be made (the listen address,
  // loopback for a wildcard): see the destructor.
  std::string wake_host_;
  std::unique_ptr<CivetHandler> metrics_, healthz_, readyz_;
};

}  // namespace redeye::exporters

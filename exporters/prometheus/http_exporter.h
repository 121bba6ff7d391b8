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

#include "exporters/prometheus/tls_credentials.h"

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

class BasicAuth;

// Who may reach the listener and how much of it (docs/threat-model.md).
struct ListenerOptions {
  std::string listen;           // "ADDR:PORT" or "[V6ADDR]:PORT": bind only there
  std::string basic_auth_file;  // USER:CRYPT-HASH lines; empty = no authentication
  // Connections being served at once, slow ones included; a scrape over the
  // cap is answered 503 at once and counted. /healthz and /readyz are
  // answered whatever the count (kubelet probes must not fail under a flood).
  int max_scrapes = 4;
  // Certificate and key: the listener then speaks HTTPS only, every path
  // included. Empty = plain HTTP.
  TlsFiles tls;
};

class HttpExporter {
 public:
  // Throws ListenError when the address cannot be bound, with the reason,
  // BasicAuthError when the auth file is unusable and TlsError when the
  // certificate, the key or the TLS libraries are.
  HttpExporter(const ListenerOptions& options, std::shared_ptr<prometheus::Registry> registry,
               HealthState& health);
  HttpExporter(const std::string& listen, std::shared_ptr<prometheus::Registry> registry, HealthState& health)
      : HttpExporter(ListenerOptions{listen}, std::move(registry), health) {}
  ~HttpExporter();
  HttpExporter(const HttpExporter&) = delete;
  HttpExporter& operator=(const HttpExporter&) = delete;

  int port() const;

 private:
  struct Guard;  // the connection count and the auth check, shared with civetweb's threads
  std::unique_ptr<Guard> guard_;
  std::unique_ptr<CivetServer> server_;
  // Where a connection to our own listener can be made (the listen address,
  // loopback for a wildcard): see the destructor.
  std::string wake_host_;
  std::unique_ptr<CivetHandler> metrics_, healthz_, readyz_;
};

}  // namespace redeye::exporters

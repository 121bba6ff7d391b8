#include "exporters/prometheus/http_exporter.h"

#include <CivetServer.h>
#include <prometheus/text_serializer.h>

#include <functional>
#include <vector>

namespace redeye::exporters {
namespace {

int64_t steady_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

void reply(mg_connection* conn, int status, const char* content_type, const std::string& body) {
  const char* reason = status == 200 ? "OK" : status == 503 ? "Service Unavailable" : "Error";
  mg_printf(conn,
            "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\nConnection: close\r\n\r\n",
            status, reason, content_type, body.size());
  mg_write(conn, body.data(), body.size());
}

class FunctionHandler : public CivetHandler {
 public:
  explicit FunctionHandler(std::function<void(mg_connection*)> fn) : fn_(std::move(fn)) {}
  bool handleGet(CivetServer*, mg_connection* conn) override {
    fn_(conn);
    return true;
  }

 private:
  std::function<void(mg_connection*)> fn_;
};

}  // namespace

void HealthState::tick() { last_tick_ms = steady_ms(); }
bool HealthState::live() const { return steady_ms() - last_tick_ms.load() < stall_limit.count(); }

HttpExporter::HttpExporter(const std::string& listen, std::shared_ptr<prometheus::Registry> registry,
                           HealthState& health) {
  std::vector<std::string> options{"listening_ports", listen, "num_threads", "4",
                                   "request_timeout_ms", "10000", "enable_keep_alive", "no"};
  try {
    server_ = std::make_unique<CivetServer>(options);
  } catch (const CivetException& e) {
    throw ListenError("cannot listen on " + listen + ": " + e.what() +
                      " (is the port already in use? choose another with --listen ADDR:PORT)");
  }
  metrics_ = std::make_unique<FunctionHandler>([registry](mg_connection* conn) {
    prometheus::TextSerializer serializer;
    reply(conn, 200, "text/plain; version=0.0.4; charset=utf-8", serializer.Serialize(registry->Collect()));
  });
  healthz_ = std::make_unique<FunctionHandler>([&health](mg_connection* conn) {
    const bool ok = health.live();
    reply(conn, ok ? 200 : 503, "text/plain", ok ? "ok\n" : "main loop stalled\n");
  });
  readyz_ = std::make_unique<FunctionHandler>([&health](mg_connection* conn) {
    const bool ok = health.ready.load() && health.live();
    reply(conn, ok ? 200 : 503, "text/plain", ok ? "ready\n" : "not ready\n");
  });
  server_->addHandler("/metrics", metrics_.get());
  server_->addHandler("/healthz", healthz_.get());
  server_->addHandler("/readyz", readyz_.get());
}

HttpExporter::~HttpExporter() {
  if (server_) server_->close();
}

int HttpExporter::port() const {
  auto ports = server_->getListeningPorts();
  return ports.empty() ? 0 : ports.front();
}

}  // namespace redeye::exporters

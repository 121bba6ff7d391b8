#include "exporters/prometheus/http_exporter.h"

#include <CivetServer.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <prometheus/text_serializer.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <functional>
#include <thread>
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

// The host to connect to for reaching a listener on `listen` ("ADDR:PORT",
// "[V6ADDR]:PORT"): the address itself, or loopback for a wildcard.
std::string wake_host_of(const std::string& listen) {
  std::string host = listen.substr(0, listen.rfind(':'));
  if (host.size() >= 2 && host.front() == '[') host = host.substr(1, host.size() - 2);
  if (host.empty() || host == "0.0.0.0") return "127.0.0.1";
  if (host == "::") return "::1";
  return host;
}

// One connection to host:port, closed at once; failures do not matter.
void poke(const std::string& host, int port) {
  sockaddr_storage addr{};
  socklen_t len = 0;
  auto* v4 = reinterpret_cast<sockaddr_in*>(&addr);
  auto* v6 = reinterpret_cast<sockaddr_in6*>(&addr);
  if (inet_pton(AF_INET, host.c_str(), &v4->sin_addr) == 1) {
    v4->sin_family = AF_INET;
    v4->sin_port = htons(static_cast<uint16_t>(port));
    len = sizeof *v4;
  } else if (inet_pton(AF_INET6, host.c_str(), &v6->sin6_addr) == 1) {
    v6->sin6_family = AF_INET6;
    v6->sin6_port = htons(static_cast<uint16_t>(port));
    len = sizeof *v6;
  } else {
    return;
  }
  const int fd = socket(addr.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return;
  (void)connect(fd, reinterpret_cast<sockaddr*>(&addr), len);
  close(fd);
}

}  // namespace

void HealthState::tick() { last_tick_ms = steady_ms(); }
bool HealthState::live() const { return steady_ms() - last_tick_ms.load() < stall_limit.count(); }

HttpExporter::HttpExporter(const std::string& listen, std::shared_ptr<prometheus::Registry> registry,
                           HealthState& health) {
  std::vector<std::string> options{"listening_ports", listen, "num_threads", "4",
                                   "request_timeout_ms", "10000", "enable_keep_alive", "no"};
  try {
    server_ = std::make_unique<CivetServer>(options);
    wake_host_ = wake_host_of(listen);
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
  if (!server_) return;
  // civetweb's accept loop polls with a 2 s quantum and close() waits for
  // it to notice the stop: a connection to our own port wakes it at once,
  // so that SIGTERM ends the agent in well under 2 s.
  const std::vector<int> ports = server_->getListeningPorts();
  std::atomic<bool> closed{false};
  std::thread waker([&] {
    while (!closed.load()) {
      for (int port : ports) poke(wake_host_, port);
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
  });
  server_->close();
  closed.store(true);
  waker.join();
}

int HttpExporter::port() const {
  auto ports = server_->getListeningPorts();
  return ports.empty() ? 0 : ports.front();
}

}  // namespace redeye::exporters

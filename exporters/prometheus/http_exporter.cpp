#include "exporters/prometheus/http_exporter.h"

#include <CivetServer.h>
#include <arpa/inet.h>
#include <prometheus/counter.h>
#include <netinet/in.h>
#include <prometheus/text_serializer.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <functional>
#include <optional>
#include <thread>
#include <vector>

#include "exporters/prometheus/basic_auth.h"

namespace redeye::exporters {
namespace {

int64_t steady_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

void reply(mg_connection* conn, int status, const char* content_type, const std::string& body,
           const char* extra_headers = "") {
  const char* reason = status == 200   ? "OK"
                       : status == 401 ? "Unauthorized"
                       : status == 503 ? "Service Unavailable"
                                       : "Error";
  mg_printf(conn,
            "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n%sConnection: close\r\n\r\n",
            status, reason, content_type, body.size(), extra_headers);
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

// Counts the connections civetweb's workers hold, from accept to close:
// a slow sender holds its worker before any handler runs, so counting in
// the handler alone would not see a slowloris.
struct HttpExporter::Guard {
  explicit Guard(const ListenerOptions& options, prometheus::Registry& registry)
      : max_open(options.max_scrapes),
        tls(options.tls),
        rejected(prometheus::BuildCounter()
                     .Name("redeye_scrapes_rejected_total")
                     .Help("Requests to /metrics refused: over_cap (more than --max-scrapes connections open), "
                           "unauthorized (missing or wrong --basic-auth-file credentials)")
                     .Register(registry)),
        over_cap(rejected.Add({{"reason", "over_cap"}})),
        unauthorized(rejected.Add({{"reason", "unauthorized"}})) {
    if (!options.basic_auth_file.empty()) auth.emplace(BasicAuth::load(options.basic_auth_file));
  }

  static Guard& of_server(void* civet_server) {
    return *static_cast<Guard*>(const_cast<void*>(static_cast<CivetServer*>(civet_server)->getUserContext()));
  }

  static Guard& of(const mg_connection* conn) {
    const auto* server = static_cast<const CivetServer*>(mg_get_user_data(mg_get_context(conn)));
    return *static_cast<Guard*>(const_cast<void*>(server->getUserContext()));
  }

  // Whether /metrics may be served to `conn`; answers it when not.
  bool admit(mg_connection* conn) {
    if (open.load() > max_open) {
      over_cap.Increment();
      reply(conn, 503, "text/plain", "too many concurrent scrapes\n", "Retry-After: 1\r\n");
      return false;
    }
    if (auth && !auth->allows(mg_get_header(conn, "Authorization"))) {
      unauthorized.Increment();
      reply(conn, 401, "text/plain", "unauthorized\n", "WWW-Authenticate: Basic realm=\"redeye\"\r\n");
      return false;
    }
    return true;
  }

  const int max_open;
  const TlsFiles tls;
  std::string tls_error;  // why init_ssl refused, for the start error
  std::atomic<int> open{0};
  std::optional<BasicAuth> auth;
  prometheus::Family<prometheus::Counter>& rejected;
  prometheus::Counter& over_cap;
  prometheus::Counter& unauthorized;
};

void HealthState::tick() { last_tick_ms = steady_ms(); }
bool HealthState::live() const { return steady_ms() - last_tick_ms.load() < stall_limit.count(); }

HttpExporter::HttpExporter(const ListenerOptions& listener, std::shared_ptr<prometheus::Registry> registry,
                           HealthState& health)
    : guard_(std::make_unique<Guard>(listener, *registry)) {
  const std::string& listen = listener.listen;
  if (listener.tls.enabled()) check_civetweb_tls_runtime();
  // Two workers beyond the cap: one to answer 503 to the scrape over it,
  // one for the kubelet's probes. A trailing "s" makes the port TLS only.
  std::vector<std::string> options{"listening_ports", listener.tls.enabled() ? listen + "s" : listen,
                                   "num_threads", std::to_string(listener.max_scrapes + 2),
                                   "request_timeout_ms", "10000", "enable_keep_alive", "no"};
  CivetCallbacks callbacks;
  callbacks.init_connection = [](const mg_connection* conn, void**) {
    ++Guard::of(conn).open;
    return 0;
  };
  callbacks.connection_closed = [](const mg_connection* conn) { --Guard::of(conn).open; };
  if (listener.tls.enabled()) {
    // civetweb's ssl_certificate wants key and certificate in one file:
    // the agent loads the two files into civetweb's SSL_CTX itself.
    callbacks.init_ssl = [](void* ssl_ctx, void* server) {
      Guard& guard = Guard::of_server(server);
      try {
        load_tls_credentials(ssl_ctx, guard.tls);
        return 1;  // certificate set up, civetweb adds nothing
      } catch (const TlsError& e) {
        guard.tls_error = e.what();
        return -1;
      }
    };
  }
  try {
    server_ = std::make_unique<CivetServer>(options, &callbacks, guard_.get());
    wake_host_ = wake_host_of(listen);
  } catch (const CivetException& e) {
    if (!guard_->tls_error.empty()) throw TlsError(guard_->tls_error);
    throw ListenError("cannot listen on " + listen + ": " + e.what() +
                      " (is the port already in use? choose another with --listen ADDR:PORT)");
  }
  metrics_ = std::make_unique<FunctionHandler>([registry, guard = guard_.get()](mg_connection* conn) {
    if (!guard->admit(conn)) return;
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

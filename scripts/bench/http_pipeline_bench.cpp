// The agent's userspace cost per HTTP request, without a kernel: data events
// shaped as sockets.bpf.c emits them for a keep-alive nginx + wrk exchange
// (wrk's send and recv, nginx's recv and send: four events, two records per
// request) go through capture::ConnectionTable into the real consumers
// (HTTP and database metrics, the trace tap with no session), as in
// agent::AgentCore.
//
// Prints nanoseconds per request. Its instruction count under callgrind is
// stable whatever the machine's load: http_pipeline_bench.sh runs it twice
// (N and 2N requests) and reports the difference per request, which leaves
// set-up costs out.
#include <unistd.h>

#include <prometheus/registry.h>
#include <prometheus/text_serializer.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "capture/connection_table.h"
#include "metrics/db/db_metrics.h"
#include "metrics/http/http_metrics.h"
#include "proc/process_table.h"
#include "protocols/protocol.h"
#include "trace/event_tap.h"

namespace {

using namespace redeye;

constexpr std::string_view kRequest = "GET / HTTP/1.1\r\nHost: 127.0.0.1:8080\r\n\r\n";
constexpr std::string_view kResponse =
    "HTTP/1.1 200 OK\r\nServer: nginx/1.22.1\r\nDate: Mon, 06 Jan 2025 10:00:00 GMT\r\n"
    "Content-Type: application/octet-stream\r\nContent-Length: 6\r\nConnection: keep-alive\r\n\r\nhello\n";

// One side of the exchange: a connection of process `tgid` seen from its end.
class Side {
 public:
  Side(uint32_t tgid, int32_t fd, uint8_t role, uint16_t local_port, uint16_t peer_port)
      : send_(make(tgid, fd, role, REDEYE_SEND, local_port, peer_port)),
        recv_(make(tgid, fd, role, REDEYE_RECV, local_port, peer_port)) {}

  void message(capture::ConnectionTable& table, bool send, std::string_view bytes, uint64_t now_ns) {
    auto& buffer = send ? send_ : recv_;
    auto& ev = *reinterpret_cast<redeye_data_event*>(buffer.data());
    uint64_t& position = send ? send_position_ : recv_position_;
    ev.enter_ns = now_ns;
    ev.exit_ns = now_ns + 2000;
    ev.position = position;
    ev.msg_size = static_cast<uint32_t>(bytes.size());
    ev.captured = static_cast<uint32_t>(bytes.size());
    std::memcpy(ev.data, bytes.data(), bytes.size());
    position += bytes.size();
    table.on_event(buffer.data(), offsetof(redeye_data_event, data) + bytes.size());
  }

 private:
  static std::vector<char> make(uint32_t tgid, int32_t fd, uint8_t role, uint8_t direction, uint16_t local_port,
                                uint16_t peer_port) {
    std::vector<char> buffer(sizeof(redeye_data_event), 0);
    auto& ev = *reinterpret_cast<redeye_data_event*>(buffer.data());
    ev.kind = REDEYE_DATA;
    ev.protocol = REDEYE_PROTO_HTTP1;
    ev.conn = {tgid, fd, 12345};
    ev.direction = direction;
    ev.role = role;
    ev.family = 2;  // AF_INET
    ev.peer_port = peer_port;
    ev.local_port = local_port;
    const uint8_t loopback[4] = {127, 0, 0, 1};
    std::memcpy(ev.peer_addr, loopback, sizeof loopback);
    return buffer;
  }

  std::vector<char> send_, recv_;
  uint64_t send_position_ = 0, recv_position_ = 0;
};

}  // namespace

int main(int argc, char** argv) {
  const long requests = argc > 1 ? std::atol(argv[1]) : 200000;
  const int conn_count = argc > 2 ? std::atoi(argv[2]) : 32;
  const bool dump = argc > 3 && std::string_view(argv[3]) == "--dump";
  if (requests <= 0 || conn_count <= 0) {
    std::fprintf(stderr, "usage: %s [REQUESTS] [CONNECTIONS] [--dump]\n", argv[0]);
    return 2;
  }

  prometheus::Registry registry;
  // Both ends are processes that live as long as the benchmark: this one
  // (service "redeye") and its parent.
  proc::ProcessTable table(proc::ProcFs(), proc::ServiceResolver({}), 256);
  metrics::http::HttpMetrics http(registry, table, metrics::http::HttpOptions{});
  metrics::db::DbMetrics db(registry, table);
  trace::EventTap tap(table);
  capture::ConsumerFanout consumers({&http, &db, &tap});
  protocols::ProtocolRegistry protocols;
  protocols::register_builtin_protocols(protocols);
  capture::ConnectionTable connections(protocols, consumers);

  const auto server_tgid = static_cast<uint32_t>(getpid());
  const auto client_tgid = static_cast<uint32_t>(getppid());
  std::vector<Side> servers, clients;
  for (int i = 0; i < conn_count; ++i) {
    const auto client_port = static_cast<uint16_t>(40000 + i);
    clients.emplace_back(client_tgid, 10 + i, REDEYE_ROLE_CLIENT, client_port, 8080);
    servers.emplace_back(server_tgid, 10 + i, REDEYE_ROLE_SERVER, 8080, client_port);
  }

  uint64_t now_ns = 1'000'000'000;
  const auto start = std::chrono::steady_clock::now();
  for (long r = 0; r < requests; ++r) {
    const size_t c = static_cast<size_t>(r % conn_count);
    clients[c].message(connections, true, kRequest, now_ns);
    servers[c].message(connections, false, kRequest, now_ns + 10000);
    servers[c].message(connections, true, kResponse, now_ns + 50000);
    clients[c].message(connections, false, kResponse, now_ns + 60000);
    now_ns += 100000;
  }
  const auto elapsed = std::chrono::steady_clock::now() - start;
  const double ns = std::chrono::duration<double, std::nano>(elapsed).count();
  std::printf("%ld requests over %d connections: %.0f ns per request (%zu connections tracked)\n", requests,
              conn_count, ns / static_cast<double>(requests), connections.size());
  // The metrics themselves, to compare the output of two builds.
  if (dump) std::fputs(prometheus::TextSerializer().Serialize(registry.Collect()).c_str(), stdout);
  return 0;
}

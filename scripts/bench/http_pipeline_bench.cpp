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

struct Exchange {
  std::string_view request;
  std::string_view response;
};

// For --dump: methods, statuses, routes, hosts, bodies and framings that
// the metrics tell apart, so that two builds' outputs are compared on more
// than one series.
constexpr Exchange kMix[] = {
    {kRequest, kResponse},
    {"POST /api/orders/12345 HTTP/1.1\r\nHost: Shop.Example:8080\r\nContent-Type: application/json\r\n"
     "Content-Length: 13\r\n\r\n{\"qty\": 1234}",
     "HTTP/1.1 201 Created\r\nContent-Length: 2\r\n\r\n{}"},
    {"GET /static/app.3f9a2b1c.js?v=1 HTTP/1.1\r\nHost: cdn\r\nConnection: keep-alive\r\n\r\n",
     "HTTP/1.1 304 Not Modified\r\n\r\n"},
    {"PUT /bucket/key.bin HTTP/1.1\r\nHost: s3.amazonaws.com\r\nx-amz-content-sha256: abc\r\n"
     "Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
     "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n"},
    {"DELETE /users/550e8400-e29b-41d4-a716-446655440000 HTTP/1.0\r\n\r\n",
     "HTTP/1.1 500 Internal Server Error\r\nContent-Length: 5\r\n\r\noops!"},
    {"HEAD /health HTTP/1.1\r\nhost: X\r\n\r\n", "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n"},
    {"PATCH /a/b/c/ HTTP/1.1\r\nHost: api\r\nExpect: 100-continue\r\nContent-Length: 3\r\n\r\n",
     "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n"},
};

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
    // one socket per side, as the socket capture keys them
    ev.conn = {(static_cast<uint64_t>(tgid) << 32) | static_cast<uint32_t>(fd), 12345};
    ev.tgid = tgid;
    ev.tid = tgid;
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
    if (!dump) {
      clients[c].message(connections, true, kRequest, now_ns);
      servers[c].message(connections, false, kRequest, now_ns + 10000);
      servers[c].message(connections, true, kResponse, now_ns + 50000);
      clients[c].message(connections, false, kResponse, now_ns + 60000);
      now_ns += 100000;
      continue;
    }
    const Exchange& e = kMix[static_cast<size_t>(r) % std::size(kMix)];
    // durations over several buckets; every 5th request's head in two reads
    const uint64_t served_ns = 20000 + static_cast<uint64_t>(r % 11) * 700000;
    clients[c].message(connections, true, e.request, now_ns);
    if (r % 5 == 0) {
      const size_t half = e.request.size() / 2;
      servers[c].message(connections, false, e.request.substr(0, half), now_ns + 10000);
      servers[c].message(connections, false, e.request.substr(half), now_ns + 15000);
    } else {
      servers[c].message(connections, false, e.request, now_ns + 10000);
    }
    servers[c].message(connections, true, e.response, now_ns + served_ns);
    clients[c].message(connections, false, e.response, now_ns + served_ns + 10000);
    now_ns += served_ns + 100000;
  }
  const auto elapsed = std::chrono::steady_clock::now() - start;
  const double ns = std::chrono::duration<double, std::nano>(elapsed).count();
  std::printf("%ld requests over %d connections: %.0f ns per request (%zu connections tracked)\n", requests,
              conn_count, ns / static_cast<double>(requests), connections.size());
  // The metrics themselves, to compare the output of two builds.
  if (dump) std::fputs(prometheus::TextSerializer().Serialize(registry.Collect()).c_str(), stdout);
  return 0;
}

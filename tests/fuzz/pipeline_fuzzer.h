// Replays one exchange script (exchange_script.h) through the agent's real
// capture pipeline, the way run_command.cpp wires it: kernel data events ->
// ConnectionTable -> ConnectionTracker/DataStream -> the protocol's parser
// from the built-in registry -> the HTTP and database metrics -> the
// Prometheus text the listener would serve.
//
// Everything is built afresh per input so that one input's state (label
// caps, series) cannot hide or cause another's crash.
#pragma once

#include <prometheus/registry.h>
#include <prometheus/text_serializer.h>

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <sstream>
#include <vector>

#include "capture/connection_table.h"
#include "exchange_script.h"
#include "metrics/db/db_metrics.h"
#include "metrics/http/http_metrics.h"
#include "proc/process_table.h"
#include "protocols/protocol.h"
#include "redeye/abi.h"

namespace redeye::fuzz {

// One traced connection's identity, as sockets.bpf.c would fill it.
inline redeye_data_event connection_event(redeye_protocol protocol, uint8_t role, uint64_t generation) {
  redeye_data_event ev;
  std::memset(&ev, 0, offsetof(redeye_data_event, data));
  ev.kind = REDEYE_DATA;
  ev.protocol = protocol;
  ev.conn.sock = 0xffff888012345678ull;
  ev.conn.generation = generation;
  ev.tgid = 4242;
  ev.tid = 4242;
  ev.role = role;
  ev.family = 2;  // AF_INET
  ev.peer_port = 5432;
  ev.local_port = 40000;
  const uint8_t peer[4] = {10, 0, 0, 5};
  std::memcpy(ev.peer_addr, peer, sizeof peer);
  return ev;
}

// Hands `size` bytes of `ev` to the table in a buffer of exactly that size,
// so that AddressSanitizer sees any read past what the event carries.
inline void deliver(capture::ConnectionTable& table, const redeye_data_event& ev, size_t size) {
  std::vector<uint8_t> exact(reinterpret_cast<const uint8_t*>(&ev), reinterpret_cast<const uint8_t*>(&ev) + size);
  table.on_event(exact.data(), exact.size());
}

inline void run_pipeline(redeye_protocol protocol, const uint8_t* data, size_t size) {
  ScriptReader in(data, size);
  uint8_t role = 0;
  if (!in.byte(role)) return;
  role %= 3;  // REDEYE_ROLE_UNKNOWN, _CLIENT, _SERVER

  // The agent's consumers with every payload-driven option switched on, so
  // that request headers and addresses reach label values.
  auto registry = std::make_shared<prometheus::Registry>();
  // An empty /proc: services resolve to the fallback, nothing of the host leaks in.
  proc::ProcessTable table(proc::ProcFs("/nonexistent-redeye-fuzz-proc"), proc::ServiceResolver({}), 10);
  metrics::http::HttpOptions http_options;
  http_options.source_header = "x-user-id";
  http_options.max_sources_per_service = 5;
  http_options.max_routes_per_service = 8;
  http_options.max_server_addresses_per_service = 4;
  http_options.s3_hosts = {"s3.local:9000", "10.0.0.5:5432"};
  metrics::http::HttpMetrics http(*registry, table, http_options);
  metrics::db::DbMetrics db(*registry, table, 8);
  capture::ConsumerFanout consumers({&http, &db});
  protocols::ProtocolRegistry parsers;
  protocols::register_builtin_protocols(parsers, protocols::ProtocolOptions{http_options.source_header});
  if (!parsers.contains(protocol)) std::abort();  // the target names a protocol the agent lacks
  // Small caps so that the fuzzer reaches the over-cap paths.
  capture::ConnectionTable connections(parsers, consumers, /*max_connections=*/4, /*max_buffered=*/2048);

  uint64_t generation = 1;
  uint64_t position[2] = {0, 0};
  uint64_t now_ns = 1'000'000;
  auto ev = std::make_unique<redeye_data_event>();
  // Bounded work per input whatever its length.
  for (int ops = 0; ops < 4096 && !in.at_end(); ++ops) {
    uint8_t kind = 0;
    in.byte(kind);
    const bool recv = (kind & kRecvBit) != 0;
    uint64_t& pos = position[recv ? 1 : 0];
    *ev = connection_event(protocol, role, generation);
    ev->direction = recv ? REDEYE_RECV : REDEYE_SEND;
    switch (static_cast<ScriptOp>((kind & 0x07) % kScriptOps)) {
      case ScriptOp::Message: {
        uint64_t captured = 0, uncaptured = 0, duration = 0;
        int64_t delta = 0;
        if (!in.varint(captured) || !in.varint(uncaptured) || !in.zigzag(delta) || !in.varint(duration)) return;
        const std::string_view bytes = in.bytes(captured);
        // Sizes the kernel can report: a syscall moves less than 4 GiB.
        uncaptured = std::min<uint64_t>(uncaptured, UINT32_MAX - bytes.size());
        now_ns += static_cast<uint64_t>(delta);
        ev->enter_ns = now_ns;
        ev->exit_ns = now_ns + duration;
        ev->position = pos;
        ev->msg_size = static_cast<uint32_t>(bytes.size() + uncaptured);
        ev->captured = static_cast<uint32_t>(std::min<size_t>(bytes.size(), REDEYE_CAPTURE_MAX));
        std::memcpy(ev->data, bytes.data(), ev->captured);
        deliver(connections, *ev, offsetof(redeye_data_event, data) + ev->captured);
        pos += ev->msg_size;
        break;
      }
      case ScriptOp::Lose: {
        uint64_t count = 0;
        if (!in.varint(count)) return;
        pos += std::min<uint64_t>(count, UINT32_MAX);
        break;
      }
      case ScriptOp::Rewind: {
        uint64_t count = 0;
        if (!in.varint(count)) return;
        pos -= std::min(count, pos);
        break;
      }
      case ScriptOp::Close:
        ev->kind = REDEYE_CLOSE;
        deliver(connections, *ev, offsetof(redeye_data_event, data));
        ++generation;
        position[0] = position[1] = 0;
        break;
      case ScriptOp::Raw: {
        uint64_t n = 0;
        if (!in.varint(n)) return;
        const std::string_view bytes = in.bytes(std::min<uint64_t>(n, sizeof(redeye_data_event)));
        std::memcpy(ev.get(), bytes.data(), bytes.size());
        // Keep it on this connection and protocol: the point is what the
        // table and the streams make of arbitrary headers.
        ev->protocol = protocol;
        ev->tgid = 4242;
        ev->tid = 4242;
        deliver(connections, *ev, bytes.size());
        break;
      }
    }
  }
  connections.on_process_exit(4242);

  // What a scrape would serve, label values from payloads included.
  std::ostringstream text;
  prometheus::TextSerializer().Serialize(text, registry->Collect());
}

}  // namespace redeye::fuzz

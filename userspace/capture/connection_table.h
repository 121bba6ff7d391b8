// Every traced connection of the node: data events from sockets.bpf.c go to
// the connection's tracker (streams + parser); records come back with the
// connection's identity attached.
#pragma once

#include <cstdint>
#include <list>
#include <map>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "conn/connection_tracker.h"
#include "protocols/protocol.h"
#include "redeye/abi.h"

namespace redeye::capture {

struct ConnectionInfo {
  uint32_t tgid = 0;
  std::string protocol;  // registry name: "http", "postgresql", "mysql"
  protocols::Role role = protocols::Role::Unknown;
  std::string peer;  // "10.0.0.5:5432" / "[::1]:80" / the server's socket path ("@name" abstract)
  uint16_t local_port = 0;
  bool unix_socket = false;
};

// Where finished records go (the metrics of each protocol). Each consumer
// picks the records of its protocols and ignores the rest.
class RecordConsumer {
 public:
  virtual ~RecordConsumer() = default;
  virtual void on_record(const ConnectionInfo& conn, const protocols::Record& record) = 0;
  // A request was read (server) or written (client) and awaits its answer;
  // abandoned: it never will get one (connection closed, bytes lost).
  virtual void on_request_started(const ConnectionInfo& /*conn*/, protocols::Role /*role*/) {}
  virtual void on_request_abandoned(const ConnectionInfo& /*conn*/, protocols::Role /*role*/, uint64_t /*n*/) {}
};

// Hands every record to several consumers (one per protocol family).
class ConsumerFanout : public RecordConsumer {
 public:
  explicit ConsumerFanout(std::vector<RecordConsumer*> consumers) : consumers_(std::move(consumers)) {}
  void on_record(const ConnectionInfo& conn, const protocols::Record& record) override {
    for (auto* c : consumers_) c->on_record(conn, record);
  }
  void on_request_started(const ConnectionInfo& conn, protocols::Role role) override {
    for (auto* c : consumers_) c->on_request_started(conn, role);
  }
  void on_request_abandoned(const ConnectionInfo& conn, protocols::Role role, uint64_t n) override {
    for (auto* c : consumers_) c->on_request_abandoned(conn, role, n);
  }

 private:
  std::vector<RecordConsumer*> consumers_;
};

struct ConnectionTableStats {
  uint64_t events = 0;
  uint64_t malformed_events = 0;  // shorter than their header says
  uint64_t connections_opened = 0;
  uint64_t connections_closed = 0;
  uint64_t connections_evicted = 0;  // over the cap or idle
  // Of connections already closed: where their parsers lost track.
  uint64_t stream_gaps = 0;       // bytes lost in capture (ring buffer full, prefix too short)
  uint64_t invalid_frames = 0;    // bytes that were not the protocol: resynchronised
  uint64_t buffer_overflows = 0;  // an incomplete frame outgrew the per-stream cap
  // Connections whose parser stopped on purpose: "postgresql/encrypted" -> n.
  std::map<std::string, uint64_t> unparsed;
};

std::string format_peer(const redeye_data_event& ev);
protocols::Role to_role(uint8_t kernel_role);

class ConnectionTable {
 public:
  // The kernel's connection map holds 65 536: so can this table.
  static constexpr size_t kDefaultMaxConnections = 65536;
  ConnectionTable(const protocols::ProtocolRegistry& registry, RecordConsumer& consumer,
                  size_t max_connections = kDefaultMaxConnections, size_t max_buffered_per_stream = 64 * 1024);
  ~ConnectionTable();

  void on_event(const void* data, size_t size);
  // The process is gone: its connections end (their fds closed with it).
  void on_process_exit(uint32_t tgid);
  // Ends connections idle for longer than idle_ns (monotonic now_ns).
  void expire_idle(uint64_t now_ns, uint64_t idle_ns);

  size_t size() const { return entries_.size(); }
  const ConnectionTableStats& stats() const { return stats_; }

 private:
  // redeye_conn_id: the socket (cookie), or tgid << 32 | fd with the
  // syscall capture.
  struct Key {
    uint64_t sock;
    uint64_t generation;
    bool operator==(const Key&) const = default;
  };
  struct KeyHash {
    size_t operator()(const Key& k) const;
  };
  struct Entry;
  using Lru = std::list<Key>;

  Entry& open(const Key& key, const redeye_data_event& ev);
  // The process doing I/O on a connection changed (fd passed on, fork).
  void move_owner(Entry& entry, uint32_t tgid);
  // A frame-walked event: each segment to the stream in turn.
  void append_segments(Entry& entry, const redeye_data_event& ev);
  static bool segments_valid(const redeye_data_event& ev);
  void close(std::unordered_map<Key, std::unique_ptr<Entry>, KeyHash>::iterator it);

  const protocols::ProtocolRegistry& registry_;
  RecordConsumer& consumer_;
  size_t max_connections_;
  size_t max_buffered_;
  std::unordered_map<Key, std::unique_ptr<Entry>, KeyHash> entries_;
  Lru lru_;  // front = most recently active
  // Open connections per process: most processes that exit have none, and
  // they should not cost a walk over every connection of the node.
  std::unordered_map<uint32_t, uint32_t> per_tgid_;
  ConnectionTableStats stats_;
};

}  // namespace redeye::capture

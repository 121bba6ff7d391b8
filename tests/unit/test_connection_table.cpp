// ConnectionTable: events of the socket capture (one connection per socket,
// whichever process does the I/O), frame-walked events with their segment
// tables, Unix socket paths, malformed tables.
#include "capture/connection_table.h"

#include <gtest/gtest.h>

#include <cstring>
#include <vector>

#include "amqp_fixtures.h"

namespace redeye::capture {
namespace {

using namespace redeye::testing::amqp_bytes;

struct Seen {
  ConnectionInfo conn;
  protocols::Record record;
};

class Recorder : public RecordConsumer {
 public:
  void on_record(const ConnectionInfo& conn, const protocols::Record& record) override {
    seen.push_back({conn, record});
  }
  size_t count(protocols::AmqpEvent event, uint32_t tgid = 0) const {
    size_t n = 0;
    for (const auto& s : seen)
      if (s.record.amqp && s.record.amqp->event == event && (!tgid || s.conn.tgid == tgid)) n += s.record.amqp->count;
    return n;
  }
  std::vector<Seen> seen;
};

// What sockets.bpf.c does with one message of an AMQP connection: walks its
// frames, copies each frame's head (a body frame's header only, others up
// to `head` bytes) and cuts events at `room` bytes of data and table.
class KernelModel {
 public:
  KernelModel(uint64_t sock, redeye_conn_role role) : sock_(sock), role_(role) {}

  std::vector<std::vector<char>> message(const std::string& bytes, redeye_data_direction dir, uint32_t tgid,
                                         size_t head = 2048, size_t room = 3072) {
    std::vector<std::vector<char>> events;
    Builder b = start(dir, tgid);
    size_t off = 0;
    while (off < bytes.size()) {
      const uint8_t type = static_cast<uint8_t>(bytes[off]);
      size_t length = 8;
      size_t want = 8;
      if (type != 'A') {
        const uint32_t size = (uint32_t(uint8_t(bytes[off + 3])) << 24) | (uint32_t(uint8_t(bytes[off + 4])) << 16) |
                              (uint32_t(uint8_t(bytes[off + 5])) << 8) | uint8_t(bytes[off + 6]);
        length = size + 8;
        want = type == 3 ? 7 : std::min(length, head);
      }
      const size_t cap = std::min(want, length);
      if (b.bytes.size() + cap + (b.segs.size() + 1) * sizeof(redeye_segment) > room ||
          b.segs.size() == REDEYE_MAX_SEGMENTS) {
        events.push_back(finish(b));
        b = start(dir, tgid);
      }
      // a fully captured segment grows while frames are copied whole
      if (b.segs.empty() || b.segs.back().captured != b.segs.back().length) {
        redeye_segment seg{};
        seg.offset = static_cast<uint32_t>(b.covered);
        b.segs.push_back(seg);
      }
      auto& seg = b.segs.back();
      b.bytes.append(bytes, off, cap);
      seg.captured = static_cast<uint16_t>(seg.captured + cap);
      seg.length += static_cast<uint32_t>(length);
      b.covered += length;
      off += length;
    }
    events.push_back(finish(b));
    return events;
  }

  std::vector<char> close() const {
    std::vector<char> e(offsetof(redeye_data_event, data));
    auto* ev = reinterpret_cast<redeye_data_event*>(e.data());
    ev->kind = REDEYE_CLOSE;
    ev->conn = {sock_, 0};
    return e;
  }

 private:
  struct Builder {
    redeye_data_event_header h{};
    std::string bytes;
    std::vector<redeye_segment> segs;
    uint64_t covered = 0;
  };
  Builder start(redeye_data_direction dir, uint32_t tgid) {
    Builder b;
    b.h.kind = REDEYE_DATA;
    b.h.protocol = REDEYE_PROTO_AMQP;
    b.h.conn = {sock_, 0};
    b.h.direction = dir;
    b.h.role = role_;
    b.h.family = 2;
    b.h.tgid = tgid;
    b.h.position = position_[dir];
    b.h.enter_ns = b.h.exit_ns = ++clock_ * 1000;
    return b;
  }
  std::vector<char> finish(Builder& b) {
    b.h.msg_size = static_cast<uint32_t>(b.covered);
    b.h.segments = static_cast<uint16_t>(b.segs.size());
    b.h.captured = static_cast<uint32_t>(b.bytes.size() + b.segs.size() * sizeof(redeye_segment));
    position_[b.h.direction] += b.covered;
    std::vector<char> e(sizeof b.h + b.h.captured);
    std::memcpy(e.data(), &b.h, sizeof b.h);
    std::memcpy(e.data() + sizeof b.h, b.bytes.data(), b.bytes.size());
    std::memcpy(e.data() + sizeof b.h + b.bytes.size(), b.segs.data(), b.segs.size() * sizeof(redeye_segment));
    return e;
  }
  uint64_t sock_;
  redeye_conn_role role_;
  uint64_t position_[2] = {0, 0};
  uint64_t clock_ = 0;
};

class ConnectionTableTest : public ::testing::Test {
 protected:
  ConnectionTableTest() { protocols::register_builtin_protocols(registry_); }
  void feed(const std::vector<std::vector<char>>& events) {
    for (const auto& e : events) table_.on_event(e.data(), e.size());
  }
  void feed(const std::vector<char>& e) { table_.on_event(e.data(), e.size()); }

  protocols::ProtocolRegistry registry_;
  Recorder recorder_;
  ConnectionTable table_{registry_, recorder_};
};

static_assert(sizeof(redeye_data_event_header) == offsetof(redeye_data_event, data));

TEST_F(ConnectionTableTest, BurstOfPublishesInOneReadIsCountedWhole) {
  KernelModel broker(77, REDEYE_ROLE_SERVER);
  feed(broker.message(client_handshake() + channel_open(1), REDEYE_RECV, 100));
  std::string burst;
  const std::string body_bytes(300, 'x');
  for (int i = 0; i < 335; ++i) burst += publish_message(1, "orders", "created", body_bytes);
  const auto events = broker.message(burst, REDEYE_RECV, 100);
  EXPECT_GT(events.size(), 1u) << "a burst this large takes several events";
  feed(events);
  EXPECT_EQ(recorder_.count(protocols::AmqpEvent::Published), 335u);
  EXPECT_EQ(table_.stats().malformed_events, 0u);
  feed(broker.close());
  EXPECT_EQ(table_.stats().stream_gaps, 0u);
  EXPECT_EQ(table_.stats().connections_closed, 1u);
}

TEST_F(ConnectionTableTest, OneSocketSharedByTwoProcessesIsOneConnection) {
  KernelModel client(5, REDEYE_ROLE_CLIENT);
  feed(client.message(client_handshake() + channel_open(1), REDEYE_SEND, 200));
  feed(client.message(publish_message(1, "orders", "a", "1"), REDEYE_SEND, 200));
  // the fd went to another process (SCM_RIGHTS): same socket, same stream
  feed(client.message(publish_message(1, "orders", "b", "2"), REDEYE_SEND, 201));
  EXPECT_EQ(table_.size(), 1u);
  EXPECT_EQ(recorder_.count(protocols::AmqpEvent::Published, 200), 1u);
  EXPECT_EQ(recorder_.count(protocols::AmqpEvent::Published, 201), 1u);
  // the connection now belongs to the process that uses it
  table_.on_process_exit(200);
  EXPECT_EQ(table_.size(), 1u);
  table_.on_process_exit(201);
  EXPECT_EQ(table_.size(), 0u);
}

TEST_F(ConnectionTableTest, SegmentTableThatDoesNotTileTheEventIsMalformed) {
  KernelModel client(9, REDEYE_ROLE_CLIENT);
  auto events = client.message(client_handshake(), REDEYE_SEND, 300);
  ASSERT_EQ(events.size(), 1u);
  auto& e = events[0];
  auto* ev = reinterpret_cast<redeye_data_event*>(e.data());
  ev->msg_size += 1;  // the segments no longer cover it
  feed(e);
  ev->msg_size -= 1;
  ev->segments = REDEYE_MAX_SEGMENTS + 1;
  feed(e);
  EXPECT_EQ(table_.stats().malformed_events, 2u);
  EXPECT_EQ(table_.size(), 0u);
}

TEST_F(ConnectionTableTest, UnixSocketPathIsThePeer) {
  std::vector<char> e(offsetof(redeye_data_event, data) + 32);
  auto* ev = reinterpret_cast<redeye_data_event*>(e.data());
  ev->kind = REDEYE_UNIX_PATH;
  ev->protocol = REDEYE_PROTO_HTTP1;
  ev->family = 1;
  ev->conn = {42, 0};
  ev->tgid = 7;
  const char path[] = "/run/app/http.sock";
  std::memcpy(ev->data, path, sizeof path);  // with its NUL, as sun_path holds it
  ev->captured = 32;
  feed(e);
  ASSERT_EQ(table_.size(), 1u);

  std::string request = "GET /orders HTTP/1.1\r\nHost: x\r\n\r\n";
  std::string response = "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n";
  for (auto [bytes, dir] : {std::pair{request, REDEYE_RECV}, std::pair{response, REDEYE_SEND}}) {
    std::vector<char> d(offsetof(redeye_data_event, data) + bytes.size());
    auto* dev = reinterpret_cast<redeye_data_event*>(d.data());
    dev->kind = REDEYE_DATA;
    dev->protocol = REDEYE_PROTO_HTTP1;
    dev->family = 1;
    dev->role = REDEYE_ROLE_SERVER;
    dev->conn = {42, 0};
    dev->tgid = 7;
    dev->direction = dir;
    dev->position = 0;
    dev->msg_size = dev->captured = static_cast<uint32_t>(bytes.size());
    std::memcpy(dev->data, bytes.data(), bytes.size());
    feed(d);
  }
  ASSERT_EQ(recorder_.seen.size(), 1u);
  EXPECT_EQ(recorder_.seen[0].conn.peer, "/run/app/http.sock");
  EXPECT_TRUE(recorder_.seen[0].conn.unix_socket);
}

}  // namespace
}  // namespace redeye::capture

#include "capture/connection_table.h"

#include <arpa/inet.h>

#include <cstring>
#include <vector>

namespace redeye::capture {

// The tracker's RecordSink: stamps each record with its connection.
struct ConnectionTable::Entry : protocols::RecordSink {
  Entry(RecordConsumer& consumer, ConnectionInfo info) : consumer(consumer), info(std::move(info)) {}
  void on_record(const protocols::Record& record) override { consumer.on_record(info, record); }
  void on_request_started(protocols::Role role) override { consumer.on_request_started(info, role); }
  void on_request_abandoned(protocols::Role role, uint64_t n) override {
    consumer.on_request_abandoned(info, role, n);
  }

  RecordConsumer& consumer;
  ConnectionInfo info;
  std::unique_ptr<conn::ConnectionTracker> tracker;
  Lru::iterator lru_position;
  uint64_t last_seen_ns = 0;
};

size_t ConnectionTable::KeyHash::operator()(const Key& k) const {
  return std::hash<uint64_t>()(k.sock) ^ (std::hash<uint64_t>()(k.generation) << 1);
}

namespace {

// A segment as the kernel wrote it; memcpy'd, data[] is not aligned for it.
redeye_segment segment_at(const char* table, size_t i) {
  redeye_segment seg;
  std::memcpy(&seg, table + i * sizeof seg, sizeof seg);
  return seg;
}

}  // namespace

std::string format_peer(const redeye_data_event& ev) {
  char addr[INET6_ADDRSTRLEN] = {};
  if (ev.family == AF_UNIX) return "";  // the path comes in its own event
  if (ev.family == 2 /* AF_INET */) {
    inet_ntop(AF_INET, ev.peer_addr, addr, sizeof addr);
    return std::string(addr) + ":" + std::to_string(ev.peer_port);
  }
  inet_ntop(AF_INET6, ev.peer_addr, addr, sizeof addr);
  return "[" + std::string(addr) + "]:" + std::to_string(ev.peer_port);
}

protocols::Role to_role(uint8_t kernel_role) {
  switch (kernel_role) {
    case REDEYE_ROLE_CLIENT: return protocols::Role::Client;
    case REDEYE_ROLE_SERVER: return protocols::Role::Server;
    default: return protocols::Role::Unknown;
  }
}

ConnectionTable::ConnectionTable(const protocols::ProtocolRegistry& registry, RecordConsumer& consumer,
                                 size_t max_connections, size_t max_buffered_per_stream)
    : registry_(registry),
      consumer_(consumer),
      max_connections_(max_connections),
      max_buffered_(max_buffered_per_stream) {}

ConnectionTable::~ConnectionTable() = default;

ConnectionTable::Entry& ConnectionTable::open(const Key& key, const redeye_data_event& ev) {
  while (entries_.size() >= max_connections_ && !lru_.empty()) {
    // the least recently active connection makes room
    auto victim = entries_.find(lru_.back());
    ++stats_.connections_evicted;
    close(victim);
  }
  ConnectionInfo info{ev.tgid, std::string(registry_.name_of(static_cast<redeye_protocol>(ev.protocol))),
                      to_role(ev.role), format_peer(ev), ev.local_port, ev.family == AF_UNIX};
  auto entry = std::make_unique<Entry>(consumer_, std::move(info));
  entry->tracker = std::make_unique<conn::ConnectionTracker>(registry_, *entry, max_buffered_);
  entry->tracker->set_role(entry->info.role);
  entry->tracker->set_protocol(static_cast<redeye_protocol>(ev.protocol));
  lru_.push_front(key);
  entry->lru_position = lru_.begin();
  ++per_tgid_[ev.tgid];
  ++stats_.connections_opened;
  return *entries_.emplace(key, std::move(entry)).first->second;
}

void ConnectionTable::close(std::unordered_map<Key, std::unique_ptr<Entry>, KeyHash>::iterator it) {
  if (it == entries_.end()) return;
  auto& tracker = *it->second->tracker;
  tracker.on_close();
  uint64_t rejected = 0;
  for (auto dir : {protocols::Direction::Send, protocols::Direction::Recv}) {
    if (const auto* stream = tracker.stream(dir)) {
      stats_.stream_gaps += stream->stats().gaps;
      stats_.invalid_frames += stream->stats().invalid_frames;
      stats_.buffer_overflows += stream->stats().bytes_dropped_over_cap ? 1 : 0;
      rejected += stream->stats().invalid_frames;
    }
  }
  // Once per connection: skipped on purpose (the parser's reason), or else
  // "invalid" when the parser rejected some of its bytes as not being its
  // protocol (garbage, impossible lengths). Lost bytes (gaps) are not that:
  // the bytes after a hole are searched for a frame, not rejected.
  if (const auto* parser = tracker.parser()) {
    std::string_view reason = parser->unparsed_reason();
    if (reason.empty() && rejected > 0) reason = "invalid";
    // protocols x reasons: a handful; the cap only guards against a parser
    // inventing reasons
    const std::string key = it->second->info.protocol + "/" + std::string(reason);
    if (!reason.empty() && (stats_.unparsed.size() < 64 || stats_.unparsed.count(key))) ++stats_.unparsed[key];
  }
  lru_.erase(it->second->lru_position);
  if (auto n = per_tgid_.find(it->second->info.tgid); n != per_tgid_.end() && --n->second == 0) per_tgid_.erase(n);
  entries_.erase(it);
}

void ConnectionTable::move_owner(Entry& entry, uint32_t tgid) {
  if (auto n = per_tgid_.find(entry.info.tgid); n != per_tgid_.end() && --n->second == 0) per_tgid_.erase(n);
  entry.info.tgid = tgid;
  ++per_tgid_[tgid];
}

void ConnectionTable::append_segments(Entry& entry, const redeye_data_event& ev) {
  const size_t table_bytes = size_t{ev.segments} * sizeof(redeye_segment);
  const char* table = ev.data + ev.captured - table_bytes;
  const auto dir = ev.direction == REDEYE_SEND ? protocols::Direction::Send : protocols::Direction::Recv;
  const conn::MessageTime time{ev.enter_ns, ev.exit_ns};
  size_t cursor = 0;
  for (size_t i = 0; i < ev.segments; ++i) {
    const redeye_segment seg = segment_at(table, i);
    // An uncaptured rest is the end of one frame (the body its parser
    // skips) unless the kernel says it lost track there.
    const bool elided = !(seg.flags & REDEYE_SEGMENT_LOST);
    entry.tracker->on_segment(dir, ev.position + seg.offset, seg.length,
                              std::string_view(ev.data + cursor, seg.captured), time, elided);
    cursor += seg.captured;
  }
}

void ConnectionTable::on_event(const void* data, size_t size) {
  ++stats_.events;
  const size_t header = offsetof(redeye_data_event, data);
  if (size < header) {
    ++stats_.malformed_events;
    return;
  }
  const auto& ev = *static_cast<const redeye_data_event*>(data);
  // The tail, when there is one, follows the prefix and ends the message.
  const uint64_t copied = uint64_t{ev.captured} + ev.tail;
  if (copied > REDEYE_CAPTURE_MAX || header + copied > size || (ev.tail && copied >= ev.msg_size) ||
      (ev.segments && !segments_valid(ev))) {
    ++stats_.malformed_events;
    return;
  }
  const Key key{ev.conn.sock, ev.conn.generation};
  auto it = entries_.find(key);
  if (ev.kind == REDEYE_CLOSE) {
    if (it != entries_.end()) {
      ++stats_.connections_closed;
      close(it);
    }
    return;
  }
  if (ev.kind == REDEYE_UNIX_PATH) {
    Entry& entry = it != entries_.end() ? *it->second : open(key, ev);
    // sun_path is NUL-terminated within its length; an abstract name is
    // not, and may hold any byte: a label gets printable ASCII only.
    std::string_view path(ev.data, std::min<size_t>(ev.captured, 108));
    if (!path.empty() && path.front() != '@') path = path.substr(0, path.find('\0'));
    entry.info.peer.assign(path);
    for (char& ch : entry.info.peer)
      if (static_cast<unsigned char>(ch) < 0x20 || static_cast<unsigned char>(ch) > 0x7e) ch = '?';
    return;
  }
  if (ev.kind != REDEYE_DATA) return;
  Entry& entry = it != entries_.end() ? *it->second : open(key, ev);
  if (entry.info.tgid != ev.tgid) move_owner(entry, ev.tgid);
  lru_.splice(lru_.begin(), lru_, entry.lru_position);
  entry.last_seen_ns = ev.exit_ns;
  if (ev.segments) {
    append_segments(entry, ev);
    return;
  }
  const auto dir = ev.direction == REDEYE_SEND ? protocols::Direction::Send : protocols::Direction::Recv;
  entry.tracker->on_data(dir, ev.position, ev.msg_size, std::string_view(ev.data, ev.captured),
                         std::string_view(ev.data + ev.captured, ev.tail), conn::MessageTime{ev.enter_ns, ev.exit_ns});
}

bool ConnectionTable::segments_valid(const redeye_data_event& ev) {
  // The table must fit the captured bytes, the segments must tile the
  // event's range in order, and their captured bytes fill the rest.
  const size_t table_bytes = size_t{ev.segments} * sizeof(redeye_segment);
  if (ev.segments > REDEYE_MAX_SEGMENTS || table_bytes > ev.captured || ev.tail) return false;
  const char* table = ev.data + ev.captured - table_bytes;
  uint64_t expect_offset = 0, bytes = 0;
  for (size_t i = 0; i < ev.segments; ++i) {
    const redeye_segment seg = segment_at(table, i);
    if (seg.offset != expect_offset || seg.captured > seg.length) return false;
    expect_offset += seg.length;
    bytes += seg.captured;
  }
  return expect_offset == ev.msg_size && bytes + table_bytes == ev.captured;
}

void ConnectionTable::on_process_exit(uint32_t tgid) {
  if (!per_tgid_.count(tgid)) return;
  std::vector<Key> gone;
  for (const auto& [key, entry] : entries_)
    if (entry->info.tgid == tgid) gone.push_back(key);
  for (const auto& key : gone) {
    ++stats_.connections_closed;
    close(entries_.find(key));
  }
}

void ConnectionTable::expire_idle(uint64_t now_ns, uint64_t idle_ns) {
  while (!lru_.empty()) {
    auto it = entries_.find(lru_.back());
    if (it == entries_.end() || now_ns - it->second->last_seen_ns < idle_ns) break;
    ++stats_.connections_evicted;
    close(it);
  }
}

}  // namespace redeye::capture

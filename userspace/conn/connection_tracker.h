// Everything userspace knows about the byte streams of one connection: the
// protocol parser and the two DataStreams (send, recv) that feed it.
//
// The parser is created only once the kernel has told which protocol the
// connection speaks, and only if a parser for it is registered; until then
// the connection's bytes are counted and let go.
#pragma once

#include <cstdint>
#include <memory>
#include <string_view>

#include "conn/data_stream.h"
#include "protocols/protocol.h"

namespace redeye::conn {

class ConnectionTracker {
 public:
  // `registry` and `sink` outlive the tracker.
  ConnectionTracker(const protocols::ProtocolRegistry& registry, protocols::RecordSink& sink,
                    size_t max_buffered_bytes = DataStream::kDefaultMaxBufferedBytes);
  ~ConnectionTracker();
  ConnectionTracker(const ConnectionTracker&) = delete;
  ConnectionTracker& operator=(const ConnectionTracker&) = delete;

  // Which end the traced process is: Server when it accepted the
  // connection, Client when it connected, Unknown (the default) when the
  // connection is older than the agent. Handed to the parser's factory, so
  // it only counts when set before the parser exists (before set_protocol).
  void set_role(protocols::Role role);

  // The protocol the kernel inferred. The first known one sticks: a
  // connection does not change protocol, and re-creating the parser would
  // throw away its request/response pairing.
  void set_protocol(redeye_protocol protocol);

  // One kernel message of this connection (see DataStream::append).
  void on_data(protocols::Direction direction, uint64_t position, uint64_t message_size,
               std::string_view captured, protocols::MessageTime time);
  // The same, with the message's last bytes (`tail`) captured as well: the
  // bytes between prefix and tail are elided on purpose, not lost.
  void on_data(protocols::Direction direction, uint64_t position, uint64_t message_size,
               std::string_view captured, std::string_view tail, protocols::MessageTime time);

  // One segment of a frame-walked event (redeye_segment): its uncaptured
  // rest is the end of one frame (`elided`) or bytes the kernel lost.
  void on_segment(protocols::Direction direction, uint64_t position, uint64_t length, std::string_view captured,
                  protocols::MessageTime time, bool elided);

  // Flushes the parser and drops incomplete frames; later data is ignored.
  void on_close();

  redeye_protocol protocol() const { return protocol_; }
  protocols::Role role() const { return role_; }
  bool has_parser() const { return session_ != nullptr; }
  // nullptr until a parser exists.
  const protocols::ProtocolParser* parser() const;
  bool closed() const { return closed_; }
  // nullptr until a parser exists.
  const DataStream* stream(protocols::Direction direction) const;
  // Message bytes that reached no parser: protocol unknown or unregistered.
  uint64_t bytes_without_parser() const { return bytes_without_parser_; }
  // Message bytes that arrived after on_close.
  uint64_t bytes_after_close() const { return bytes_after_close_; }

 private:
  // The parser and the streams that reference it, created together.
  struct Session;

  const protocols::ProtocolRegistry& registry_;
  protocols::RecordSink& sink_;
  const size_t max_buffered_;
  protocols::Role role_ = protocols::Role::Unknown;
  redeye_protocol protocol_ = REDEYE_PROTO_UNKNOWN;
  std::unique_ptr<Session> session_;
  bool closed_ = false;
  uint64_t bytes_without_parser_ = 0;
  uint64_t bytes_after_close_ = 0;
};

}  // namespace redeye::conn

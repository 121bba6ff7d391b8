// The contract between the protocol-agnostic stream plumbing (conn/) and the
// per-protocol parsers (protocols/<name>/).
//
// The kernel sends, per socket message, the stream position of its first
// byte, its full size and a bounded prefix of its bytes. conn::DataStream
// turns those into a contiguous byte sequence per direction, and hands it to
// the connection's ProtocolParser one frame at a time. The parser owns all
// protocol state (half-parsed requests, request/response pairing) and emits
// finished Records through the RecordSink it was created with.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>

#include "redeye/abi.h"

namespace redeye::protocols {

// Outcome of one parse_frame call.
enum class ParseState {
  NeedsMoreData,  // the bytes hold only the start of a frame; nothing consumed
  Invalid,        // the bytes at the front are not a frame of this protocol
  Ignored,        // a valid frame was consumed but yields nothing (keepalive, orphan reply)
  Success,        // a frame was consumed
};

// Direction of a byte stream, seen from the traced process.
enum class Direction { Send, Recv };

// Which end of the conversation the traced process is.
enum class Role { Unknown, Client, Server };

// Array index of a direction, for per-direction state.
constexpr size_t direction_index(Direction direction) {
  return direction == Direction::Send ? 0 : 1;
}

// One request/response exchange, produced by a parser's stitcher. Minimal on
// purpose: the protocol issues extend it with what their metrics need.
struct Record {
  std::string protocol;
  Role role = Role::Unknown;
  std::string operation;  // method, command or query kind
  std::string status;     // status code or error class, as the protocol spells it
  bool error = false;
  uint64_t request_ns = 0;
  uint64_t response_ns = 0;
};

// Where a parser delivers its Records. The receiver outlives the parser.
class RecordSink {
 public:
  virtual ~RecordSink() = default;
  virtual void on_record(Record record) = 0;
};

// Parser and stitcher of one connection (both directions), created per
// connection by the ProtocolRegistry. Called from one thread only.
class ProtocolParser {
 public:
  virtual ~ProtocolParser() = default;

  virtual std::string_view name() const = 0;

  // Parses one frame from the front of `bytes`. On Success or Ignored sets
  // `consumed` to the frame's length (> 0); on NeedsMoreData and Invalid
  // `consumed` is not read. Never sees bytes twice once they are consumed.
  virtual ParseState parse_frame(Direction direction, std::string_view bytes,
                                 size_t& consumed) = 0;

  // Offset in `bytes` of the first position where a frame plausibly starts,
  // or npos. Used to resynchronise after garbage or lost bytes.
  virtual size_t find_frame_boundary(Direction direction, std::string_view bytes) const = 0;

  // `missing_bytes` of this direction, right after the last byte the parser
  // consumed, will never be shown to it (lost in capture, or dropped by the
  // stream). Half-parsed state and pending request/response pairing of that
  // direction can no longer be trusted.
  virtual void on_gap(Direction direction, uint64_t missing_bytes) = 0;

  // Asked once right after each frame parse_frame accepted (Success or
  // Ignored): how many bytes following that frame are a body the parser does
  // not need. The stream then drops them without buffering them, even when
  // they span later messages or were never captured. 0 = no body to skip.
  virtual size_t body_bytes_to_skip(Direction /*direction*/) const { return 0; }

  // The connection closed; no more bytes come. A stitcher can emit what it
  // still holds (requests that never got a response).
  virtual void on_close() {}
};

// Knows, for each protocol the kernel can tag a connection with, how to build
// that protocol's parser. Filled once at start-up by register_builtin_protocols.
class ProtocolRegistry {
 public:
  using Factory = std::function<std::unique_ptr<ProtocolParser>(RecordSink&)>;

  // Throws std::invalid_argument when the id or the name is already taken,
  // the id is REDEYE_PROTO_UNKNOWN, the name is empty or the factory is empty.
  void add(redeye_protocol id, std::string name, Factory factory);

  // A new parser for one connection, bound to `sink`; nullptr when no
  // protocol is registered under `id`.
  std::unique_ptr<ProtocolParser> create(redeye_protocol id, RecordSink& sink) const;

  bool contains(redeye_protocol id) const { return entries_.count(id) != 0; }
  // The registered name, or "" for an unregistered id.
  std::string_view name_of(redeye_protocol id) const;
  size_t size() const { return entries_.size(); }

 private:
  struct Entry {
    std::string name;
    Factory factory;
  };
  std::map<redeye_protocol, Entry> entries_;
};

// Registers every parser built into the agent (userspace/protocols/registry.cpp).
void register_builtin_protocols(ProtocolRegistry& registry);

}  // namespace redeye::protocols

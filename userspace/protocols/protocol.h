// The contract between the protocol-agnostic stream plumbing (conn/) and the
// per-protocol parsers (protocols/<name>/).
//
// The kernel sends, per socket message, the stream position of its first
// byte, its full size, a bounded prefix of its bytes and the times the
// syscall entered and returned (MessageTime). conn::DataStream
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
#include <optional>
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

// When the syscall that carried one message entered and returned
// (CLOCK_MONOTONIC ns, as the kernel stamped them).
struct MessageTime {
  uint64_t enter_ns = 0;
  uint64_t exit_ns = 0;
  bool operator==(const MessageTime&) const = default;
};

// The times of the bytes handed to one parse_frame call.
class FrameClock {
 public:
  virtual ~FrameClock() = default;
  // Time of the message that held byte `offset` of the bytes (offset <
  // bytes.size()). A frame split over several messages has several times.
  virtual MessageTime at(size_t offset) const = 0;
};

// A FrameClock for bytes that all came with one message.
class FixedFrameClock final : public FrameClock {
 public:
  explicit FixedFrameClock(MessageTime time) : time_(time) {}
  MessageTime at(size_t) const override { return time_; }

 private:
  MessageTime time_;
};

// What HTTP/1.x adds to a Record (protocols/http/).
struct HttpDetails {
  std::string method;
  int status = 0;
  std::string path;   // request target without the query
  std::string query;  // kept only for classification, never exported
  std::string host;
  uint64_t request_body_bytes = 0;
  uint64_t response_body_bytes = 0;
  bool aws_sigv4 = false;    // Authorization starts with AWS4-HMAC-SHA256
  bool amz_headers = false;  // some x-amz-* request header
  uint64_t decoded_content_length = 0;  // aws-chunked uploads: object bytes without framing
  std::string source;        // value of the configured source header, if any
};

// What a database exchange tells the metrics, and the statement's head for
// `redeye trace`.
struct SqlDetails {
  std::string system;      // "postgresql" or "mysql"
  std::string operation;   // first SQL keyword, see protocols/sql/sql_summary.h
  std::string collection;  // first table of a simple statement, "" otherwise
  std::string error_type;  // "" on success; SQLSTATE (PostgreSQL) or error number (MySQL)
  // The statement's head (sql::kStatementTextBytes), for `redeye trace`
  // only, which masks its literals unless --show-payload: never a label.
  std::string statement;
};

// What an AMQP 0-9-1 event tells the metrics (protocols/amqp/). AMQP is not
// request/response: a Record is one event of a channel, `count` messages.
enum class AmqpEvent : uint8_t {
  Published,         // basic.publish, client to broker
  Confirmed,         // the broker's ack/nack of a publish (confirm mode); outcome
  Delivered,         // basic.deliver or basic.get-ok; outcome "deliver"/"get"
  Settled,           // the client's ack/nack/reject of a delivery; outcome, requeue
  Unsettled,         // in-flight deliveries forgotten: channel or connection gone
  Returned,          // basic.return: unroutable mandatory publish
  ConsumerAdded,     // basic.consume-ok (or consume no-wait)
  ConsumerRemoved,   // cancel, cancel-ok, channel or connection gone
  ChannelClosed,     // channel.close; reply_code, by_client
  ConnectionClosed,  // connection.close; reply_code, by_client
  Blocked,           // connection.blocked
  Unblocked,         // connection.unblocked, or the close of a blocked connection
};
struct AmqpDetails {
  AmqpEvent event = AmqpEvent::Published;
  std::string exchange;  // as sent: "" is the default exchange
  std::string queue;     // "" when the delivery's consumer or get was not seen
  std::string outcome;   // see AmqpEvent
  bool requeue = false;
  bool in_flight = false;  // Delivered: now awaits settlement; Settled/Unsettled: did
  bool by_client = false;  // closes: the client sent it
  uint16_t reply_code = 0;
  uint64_t count = 1;      // messages the event stands for
  uint64_t body_bytes = 0; // Published/Delivered/Returned, from the content header
};

// One request/response exchange, produced by a parser's stitcher. The
// protocol issues extend it with what their metrics need.
struct Record {
  std::string protocol;
  Role role = Role::Unknown;
  std::string operation;  // method, command or query kind
  std::string status;     // status code or error class, as the protocol spells it
  bool error = false;
  uint64_t request_ns = 0;   // the request's first byte was seen
  uint64_t response_ns = 0;  // the response's last byte was seen
  std::optional<HttpDetails> http;
  std::optional<SqlDetails> sql;
  std::optional<AmqpDetails> amqp;
};

// body_bytes_to_skip value meaning "everything until the connection closes"
// (a response body delimited by the close).
constexpr size_t kSkipUntilClose = SIZE_MAX;

// What one direction's stream knew when the connection closed.
struct StreamEnd {
  bool any_message = false;  // some message of this direction arrived
  MessageTime last_message;  // the last of them (when any_message)
  bool skipping = false;     // a body skip was still unfinished
  uint64_t skipped = 0;      // bytes that unfinished skip had passed
};

// Where a parser delivers its Records. The receiver outlives the parser.
class RecordSink {
 public:
  virtual ~RecordSink() = default;
  virtual void on_record(const Record& record) = 0;
  // A request is waiting for its response (in-flight gauges); `count`
  // waiting requests will never get one (lost bytes, close, eviction).
  virtual void on_request_started(Role /*role*/) {}
  virtual void on_request_abandoned(Role /*role*/, uint64_t /*count*/) {}
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
  // After NeedsMoreData the next call of that direction gets the same bytes
  // and more, unless on_gap came in between. `clock` gives the time of each
  // byte; it is valid during the call only.
  virtual ParseState parse_frame(Direction direction, std::string_view bytes,
                                 const FrameClock& clock, size_t& consumed) = 0;

  // Offset in `bytes` of the first position where a frame plausibly starts,
  // or npos. Used to resynchronise after garbage or lost bytes.
  virtual size_t find_frame_boundary(Direction direction, std::string_view bytes) const = 0;

  // `missing_bytes` of this direction, right after the last byte the parser
  // consumed, will never be shown to it (lost in capture, or dropped by the
  // stream). Half-parsed state and pending request/response pairing of that
  // direction can no longer be trusted.
  virtual void on_gap(Direction direction, uint64_t missing_bytes) = 0;

  // Like on_gap, but the missing bytes are the middle of one message whose
  // last bytes come next (the kernel captures head and tail of long
  // messages of some protocols): nothing else was lost, so pairing of
  // requests and answers still holds. By default treated as a gap.
  virtual void on_elided(Direction direction, uint64_t missing_bytes) { on_gap(direction, missing_bytes); }

  // Asked once right after each frame parse_frame accepted (Success or
  // Ignored): how many bytes following that frame are a body the parser does
  // not need. The stream then drops them without buffering them, even when
  // they span later messages or were never captured. 0 = no body to skip;
  // kSkipUntilClose = all the rest of the direction.
  virtual size_t body_bytes_to_skip(Direction /*direction*/) const { return 0; }

  // A body skip (body_bytes_to_skip > 0) has been fully passed. `last` is the
  // time of the message that held the body's last byte (when that byte was
  // lost, of the message whose declared size covered it; when it fell in a
  // hole between messages, of the first message after the hole). Comes
  // before anything that follows the body, on_gap included.
  virtual void on_body_end(Direction /*direction*/, MessageTime /*last*/) {}

  // The connection closed: what each direction's stream knew then. Called
  // for Send, then Recv, right before on_close.
  virtual void on_stream_end(Direction /*direction*/, const StreamEnd& /*end*/) {}

  // The connection closed; no more bytes come. A stitcher can emit what it
  // still holds (requests that never got a response).
  virtual void on_close() {}

  // Why the rest of the connection is not parsed ("encrypted", "compressed",
  // ...), or empty while it is. Counted by the agent when it closes.
  virtual std::string_view unparsed_reason() const { return {}; }
};

// Knows, for each protocol the kernel can tag a connection with, how to build
// that protocol's parser. Filled once at start-up by register_builtin_protocols.
class ProtocolRegistry {
 public:
  // Builds the parser of one connection, bound to a sink. `role` is the
  // traced process's end when known (it accepted or connected), Unknown for
  // connections older than the agent.
  using Factory = std::function<std::unique_ptr<ProtocolParser>(RecordSink&, Role)>;
  // A factory for parsers that do not need the role.
  using SinkOnlyFactory = std::function<std::unique_ptr<ProtocolParser>(RecordSink&)>;

  // Throws std::invalid_argument when the id or the name is already taken,
  // the id is REDEYE_PROTO_UNKNOWN, the name is empty or the factory is empty.
  void add(redeye_protocol id, std::string name, Factory factory);
  void add(redeye_protocol id, std::string name, SinkOnlyFactory factory);

  // A new parser for one connection, bound to `sink`; nullptr when no
  // protocol is registered under `id`.
  std::unique_ptr<ProtocolParser> create(redeye_protocol id, RecordSink& sink,
                                         Role role = Role::Unknown) const;

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

// What the parsers need from the agent's configuration.
struct ProtocolOptions {
  std::string http_source_header;  // lower-case request header copied into HttpDetails::source
};

// Registers every parser built into the agent (userspace/protocols/registry.cpp).
void register_builtin_protocols(ProtocolRegistry& registry, const ProtocolOptions& options = {});

}  // namespace redeye::protocols

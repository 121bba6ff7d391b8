// The HTTP/1.x ProtocolParser: frames both directions of a connection with
// http_parser.h, pairs requests and responses with HttpStitcher and emits a
// Record (with HttpDetails) per exchange. Bodies are never buffered: their
// sizes come from the framing and the stream skips them.
//
// Which direction carries requests follows from the role: a server receives
// them, a client sends them. With Role::Unknown (a connection older than
// the agent) the first message head decides: a request received or a
// response sent makes the process the server.
//
// Times: the request starts when its first byte was seen (a server: the
// read returned, exit_ns; a client: the write began, enter_ns); the response
// ends when its last byte was seen (exit_ns of the message that held it).
//
// Payload bytes are never logged.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "protocols/http/http_parser.h"
#include "protocols/http/http_stitcher.h"
#include "protocols/protocol.h"

namespace redeye::protocols::http {

struct HttpParserOptions {
  // Lower-case name of a request header whose value goes into
  // HttpDetails::source; empty = none.
  std::string source_header;
  // Requests waiting for a response; over it the oldest is dropped (counted).
  size_t max_pending_requests = 64;
};

class HttpProtocolParser final : public ProtocolParser {
 public:
  static constexpr std::string_view kName = "http";

  HttpProtocolParser(RecordSink& sink, Role role, HttpParserOptions options = {});

  std::string_view name() const override { return kName; }
  ParseState parse_frame(Direction direction, std::string_view bytes, const FrameClock& clock,
                         size_t& consumed) override;
  size_t find_frame_boundary(Direction direction, std::string_view bytes) const override;
  void on_gap(Direction direction, uint64_t missing_bytes) override;
  size_t body_bytes_to_skip(Direction direction) const override;
  void on_body_end(Direction direction, MessageTime last) override;
  void on_stream_end(Direction direction, const StreamEnd& end) override;
  void on_close() override;

  // The role given, or inferred from the first message head (else Unknown).
  Role role() const { return stitcher_.role(); }
  const HttpStats& stats() const { return stitcher_.stats(); }
  uint64_t requests_unanswered() const { return stitcher_.stats().requests_unanswered; }
  size_t pending_requests() const { return stitcher_.pending(); }

 private:
  // Where one direction is within its current message.
  enum class Phase : uint8_t {
    Head,          // expecting a request or status line
    ContinueBody,  // a request with Expect: 100-continue; its body may or may not come
    Body,          // a Content-Length body being skipped, until on_body_end
    Chunks,        // expecting a chunk-size line, or the last chunk and trailers
    UntilClose,    // the rest of the direction is the response body
    Tunnel,        // after 101 or a CONNECT's 2xx: not HTTP any more, skipped to the close
  };
  struct Side {
    Phase phase = Phase::Head;
    bool request = false;       // the message in progress is a request
    bool orphan = false;        // a response without request: framed, not recorded
    uint64_t request_id = 0;    // the request whose body is in progress
    uint64_t deferred_body = 0; // ContinueBody: the announced Content-Length
    HeadScan scan;              // progress through a head still arriving
    uint64_t skip = 0;          // answer to body_bytes_to_skip for the last frame
  };

  Side& side(Direction direction) { return sides_[direction_index(direction)]; }
  HeadKind expected_kind(Direction direction) const;
  Direction request_direction() const;

  ParseState parse_head_frame(Direction direction, Side& side, std::string_view bytes,
                              const FrameClock& clock, size_t& consumed);
  ParseState on_request_head(Side& side, const Head& head, const FrameClock& clock);
  ParseState on_response_head(Direction direction, Side& side, const Head& head,
                              const FrameClock& clock);
  ParseState parse_chunk_frame(Side& side, std::string_view bytes, const FrameClock& clock,
                               size_t& consumed);
  ParseState start_deferred_body(Side& side, size_t& consumed);
  // The response of `side` is complete, its last byte seen at `end_ns`.
  void end_response(Side& side, uint64_t end_ns);
  // The message of `side` cannot be framed any further.
  void abandon(Side& side);
  // The state of a frame that belongs to the message of `side`.
  static ParseState part_state(const Side& side) {
    return side.orphan ? ParseState::Ignored : ParseState::Success;
  }

  const HttpParserOptions options_;
  HttpStitcher stitcher_;
  Side sides_[2];
};

// A ProtocolRegistry factory building HttpProtocolParsers with `options`.
ProtocolRegistry::Factory make_factory(HttpParserOptions options = {});

}  // namespace redeye::protocols::http

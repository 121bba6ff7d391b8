#include "protocols/http/http_protocol.h"

#include <utility>

namespace redeye::protocols::http {
namespace {

// Path and query of a request target (the query without its '?').
void split_target(std::string_view target, HttpDetails& details) {
  const size_t question = target.find('?');
  details.path.assign(target.substr(0, question));
  if (question != std::string_view::npos) details.query.assign(target.substr(question + 1));
}

// Responses that never have a body, whatever their headers say
// (RFC 9112 6.3). 1xx are interim or switch protocols, handled apart.
bool response_has_no_body(std::string_view method, int status) {
  return method == "HEAD" || status == 204 || status == 304;
}

// After these responses the connection carries another protocol.
bool response_opens_tunnel(std::string_view method, int status) {
  return status == 101 || (method == "CONNECT" && status >= 200 && status < 300);
}

}  // namespace

HttpProtocolParser::HttpProtocolParser(RecordSink& sink, Role role, HttpParserOptions options)
    : options_(std::move(options)), stitcher_(sink, role, options_.max_pending_requests) {}

HeadKind HttpProtocolParser::expected_kind(Direction direction) const {
  if (role() == Role::Unknown) return HeadKind::Either;
  return direction == request_direction() ? HeadKind::Request : HeadKind::Response;
}

Direction HttpProtocolParser::request_direction() const {
  return role() == Role::Server ? Direction::Recv : Direction::Send;
}

ParseState HttpProtocolParser::parse_frame(Direction direction, std::string_view bytes,
                                           const FrameClock& clock, size_t& consumed) {
  Side& current = side(direction);
  current.skip = 0;
  switch (current.phase) {
    case Phase::Chunks:
      return parse_chunk_frame(current, bytes, clock, consumed);
    case Phase::ContinueBody:
      // Answered with a final status instead of 100 Continue, the client may
      // drop the body and go on with its next request.
      if (stitcher_.is_pending(current.request_id) || !may_start_message(bytes, HeadKind::Request))
        return start_deferred_body(current, consumed);
      current = Side{};
      break;
    case Phase::Tunnel:
      // Taken as a one-byte frame so that the rest can be skipped.
      consumed = 1;
      current.skip = kSkipUntilClose;
      return ParseState::Ignored;
    case Phase::Body:
    case Phase::UntilClose:
      // The stream skips bodies, so no frame comes here; start over if one does.
      current = Side{};
      break;
    case Phase::Head:
      break;
  }
  return parse_head_frame(direction, current, bytes, clock, consumed);
}

ParseState HttpProtocolParser::parse_head_frame(Direction direction, Side& current,
                                                std::string_view bytes, const FrameClock& clock,
                                                size_t& consumed) {
  // Empty lines between messages (a stray CRLF after a body) are tolerated.
  if (bytes.front() == '\n') {
    consumed = 1;
    return ParseState::Ignored;
  }
  if (bytes.front() == '\r') {
    if (bytes.size() < 2) return ParseState::NeedsMoreData;
    if (bytes[1] != '\n') return ParseState::Invalid;
    consumed = 2;
    return ParseState::Ignored;
  }

  Head head;
  switch (parse_head(bytes, expected_kind(direction), options_.source_header, current.scan, head)) {
    case ParseResult::Incomplete:
      return ParseState::NeedsMoreData;
    case ParseResult::Invalid:
      current = Side{};
      return ParseState::Invalid;
    case ParseResult::Complete:
      break;
  }
  current.scan = HeadScan{};
  if (role() == Role::Unknown) {
    // A request received or a response sent: the process is the server.
    const bool server = head.is_request == (direction == Direction::Recv);
    stitcher_.set_role(server ? Role::Server : Role::Client);
  }
  const ParseState state =
      head.is_request ? on_request_head(current, head, clock)
                      : on_response_head(direction, current, head, clock);
  if (state != ParseState::Invalid) consumed = head.size;
  return state;
}

ParseState HttpProtocolParser::on_request_head(Side& current, const Head& head, const FrameClock& clock) {
  // Without chunked as the final coding a request's length is unknowable.
  if (head.other_transfer_coding) {
    current = Side{};
    return ParseState::Invalid;
  }
  const MessageTime first = clock.at(0);
  const uint64_t start_ns = role() == Role::Server ? first.exit_ns : first.enter_ns;
  PendingRequest& request = stitcher_.start_request(start_ns);
  HttpDetails& details = request.details;
  details.method.assign(head.method);
  split_target(head.target, details);
  details.host.assign(head.host);
  details.aws_sigv4 = head.aws_sigv4;
  details.amz_headers = head.amz_headers;
  details.decoded_content_length = head.decoded_content_length;
  if (head.has_source) details.source.assign(head.source);
  const uint64_t id = request.id;

  current = Side{};
  current.request = true;
  current.request_id = id;
  if (head.chunked) {
    current.phase = Phase::Chunks;
  } else if (head.has_content_length && head.content_length > 0) {
    if (head.expect_continue) {
      current.phase = Phase::ContinueBody;
      current.deferred_body = head.content_length;
    } else {
      stitcher_.add_request_body_bytes(id, head.content_length);
      current.phase = Phase::Body;
      current.skip = head.content_length;
    }
  }
  return ParseState::Success;
}

ParseState HttpProtocolParser::on_response_head(Direction direction, Side& current, const Head& head,
                                                const FrameClock& clock) {
  current = Side{};
  if (head.status < 200 && head.status != 101) {
    // 100 Continue, 103 Early Hints...: the final response is still to come.
    stitcher_.count_interim_response();
    return ParseState::Ignored;
  }
  const MessageTime first = clock.at(0);
  // Comparable with the request's start: a server's write begins after its
  // read returned, a client's read returns after its write began.
  const uint64_t first_ns = role() == Role::Server ? first.enter_ns : first.exit_ns;
  const PendingRequest* request = stitcher_.begin_response(head.status, first_ns);
  current.orphan = request == nullptr;
  const ParseState state = part_state(current);
  const std::string_view method = request ? std::string_view(request->details.method) : std::string_view();
  const bool has_length = head.has_content_length && !head.chunked && !head.other_transfer_coding;
  const uint64_t end_of_head_ns = clock.at(head.size - 1).exit_ns;

  if (response_opens_tunnel(method, head.status)) {
    // WebSocket, a proxy tunnel...: what follows, both ways, is not HTTP.
    end_response(current, end_of_head_ns);
    current.phase = Phase::Tunnel;
    current.skip = kSkipUntilClose;
    Side& other = side(direction == Direction::Send ? Direction::Recv : Direction::Send);
    if (other.phase == Phase::Head) {
      other = Side{};
      other.phase = Phase::Tunnel;
    }
  } else if (response_has_no_body(method, head.status) || (has_length && head.content_length == 0)) {
    end_response(current, end_of_head_ns);
  } else if (head.chunked) {
    current.phase = Phase::Chunks;
  } else if (has_length) {
    stitcher_.add_response_body_bytes(head.content_length);
    current.phase = Phase::Body;
    current.skip = head.content_length;
  } else {
    // No length: the body runs until the connection closes.
    current.phase = Phase::UntilClose;
    current.skip = kSkipUntilClose;
  }
  return state;
}

ParseState HttpProtocolParser::parse_chunk_frame(Side& current, std::string_view bytes,
                                                 const FrameClock& clock, size_t& consumed) {
  uint64_t size = 0;
  size_t line = 0;
  switch (parse_chunk_size_line(bytes, size, line)) {
    case ParseResult::Incomplete:
      return ParseState::NeedsMoreData;
    case ParseResult::Invalid:
      abandon(current);
      return ParseState::Invalid;
    case ParseResult::Complete:
      break;
  }
  if (size > 0) {
    if (current.request) {
      stitcher_.add_request_body_bytes(current.request_id, size);
    } else if (!current.orphan) {
      stitcher_.add_response_body_bytes(size);
    }
    current.skip = size + 2;  // the data and the CRLF that closes it
    consumed = line;
    return part_state(current);
  }

  // The last chunk: trailer fields, then the empty line that ends the message.
  size_t trailers = 0;
  switch (parse_trailer_section(bytes.substr(line), trailers)) {
    case ParseResult::Incomplete:
      return ParseState::NeedsMoreData;
    case ParseResult::Invalid:
      abandon(current);
      return ParseState::Invalid;
    case ParseResult::Complete:
      break;
  }
  consumed = line + trailers;
  const ParseState state = part_state(current);
  if (current.request) {
    current = Side{};
  } else {
    end_response(current, clock.at(consumed - 1).exit_ns);
  }
  return state;
}

ParseState HttpProtocolParser::start_deferred_body(Side& current, size_t& consumed) {
  // The body of a request that waited for 100 Continue is coming after all.
  // Its first byte is taken as a frame so that the rest can be skipped.
  stitcher_.add_request_body_bytes(current.request_id, current.deferred_body);
  consumed = 1;
  current.skip = current.deferred_body - 1;
  current.phase = current.skip > 0 ? Phase::Body : Phase::Head;
  return ParseState::Success;
}

void HttpProtocolParser::end_response(Side& current, uint64_t end_ns) {
  if (!current.orphan) stitcher_.finish_response(end_ns);
  current.phase = Phase::Head;
  current.orphan = false;
}

void HttpProtocolParser::abandon(Side& current) {
  if (!current.request && !current.orphan) stitcher_.abandon_response();
  current = Side{};
}

size_t HttpProtocolParser::find_frame_boundary(Direction direction, std::string_view bytes) const {
  return find_message_start(bytes, expected_kind(direction));
}

void HttpProtocolParser::on_gap(Direction direction, uint64_t /*missing_bytes*/) {
  Side& current = side(direction);
  if (role() != Role::Unknown && direction != request_direction()) {
    // A response went missing, in part or whole: which of the later
    // responses answers which pending request is unknown from here on.
    stitcher_.abandon_response();
    stitcher_.drop_pending();
  }
  // A request that lost its head never made it into the queue; pending
  // requests before the gap still get their responses in order, and a
  // response to a request lost in the gap is recognised by starting before
  // the next request did (HttpStitcher::begin_response).
  current = Side{};
}

size_t HttpProtocolParser::body_bytes_to_skip(Direction direction) const {
  return static_cast<size_t>(sides_[direction_index(direction)].skip);
}

void HttpProtocolParser::on_body_end(Direction direction, MessageTime last) {
  Side& current = side(direction);
  // Chunk data ends too, but the chunked message ends with its last chunk.
  if (current.phase != Phase::Body) return;
  if (current.request) {
    current = Side{};
  } else {
    end_response(current, last.exit_ns);
  }
}

void HttpProtocolParser::on_stream_end(Direction direction, const StreamEnd& end) {
  Side& current = side(direction);
  if (current.phase != Phase::UntilClose) return;
  // The close delimits this body: the response ends with the last message.
  if (!current.orphan) stitcher_.add_response_body_bytes(end.skipped);
  end_response(current, end.last_message.exit_ns);
}

void HttpProtocolParser::on_close() {
  stitcher_.abandon_response();
  stitcher_.drop_pending();
  sides_[0] = Side{};
  sides_[1] = Side{};
}

ProtocolRegistry::Factory make_factory(HttpParserOptions options) {
  return [options = std::move(options)](RecordSink& sink, Role role) -> std::unique_ptr<ProtocolParser> {
    return std::make_unique<HttpProtocolParser>(sink, role, options);
  };
}

}  // namespace redeye::protocols::http

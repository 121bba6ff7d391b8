#include "protocols/amqp/amqp_protocol.h"

namespace redeye::protocols::amqp {

AmqpProtocolParser::AmqpProtocolParser(RecordSink& sink, Role role, AmqpLimits limits)
    : stitcher_(sink, role, limits) {}

Sender AmqpProtocolParser::sender_of(Direction direction) const {
  const bool client_sends = role() == Role::Client;
  return (direction == Direction::Send) == client_sends ? Sender::Client : Sender::Broker;
}

void AmqpProtocolParser::infer_role(Direction direction, uint32_t method) {
  const bool sent = direction == Direction::Send;
  switch (sender_of_method(method)) {
    case MethodSender::Client:
      stitcher_.set_role(sent ? Role::Client : Role::Server);
      break;
    case MethodSender::Broker:
      stitcher_.set_role(sent ? Role::Server : Role::Client);
      break;
    default:
      break;
  }
}

ParseState AmqpProtocolParser::parse_frame(Direction direction, std::string_view bytes, const FrameClock& clock,
                                           size_t& consumed) {
  uint64_t& skip = skip_[direction_index(direction)];
  skip = 0;
  if (bytes.front() == 'A') {
    // Only the client sends the protocol header, once, first.
    if (bytes.size() < kProtocolHeader.size())
      return kProtocolHeader.substr(0, bytes.size()) == bytes ? ParseState::NeedsMoreData : ParseState::Invalid;
    if (bytes.substr(0, kProtocolHeader.size()) != kProtocolHeader) return ParseState::Invalid;
    if (role() == Role::Unknown) stitcher_.set_role(direction == Direction::Send ? Role::Client : Role::Server);
    consumed = kProtocolHeader.size();
    return ParseState::Ignored;
  }
  FrameHeader header;
  switch (parse_frame_header(bytes, header)) {
    case Decode::Incomplete:
      return ParseState::NeedsMoreData;
    case Decode::Invalid:
      return ParseState::Invalid;
    case Decode::Complete:
      break;
  }
  const bool whole = bytes.size() >= header.frame_size();
  if (whole && static_cast<uint8_t>(bytes[header.frame_size() - 1]) != kFrameEnd) return ParseState::Invalid;
  switch (header.type) {
    case FrameType::Heartbeat:
      if (!whole) return ParseState::NeedsMoreData;
      consumed = header.frame_size();
      return ParseState::Ignored;
    case FrameType::Body:
      // Never buffered: the stream drops the payload and the frame end.
      consumed = kFrameHeaderSize;
      skip = uint64_t{header.size} + 1;
      return ParseState::Ignored;
    case FrameType::Header:
      return parse_content_header(direction, header, bytes, consumed);
    case FrameType::Method: {
      const MessageTime time = clock.at(0);
      return parse_method(direction, header, bytes, direction == Direction::Send ? time.enter_ns : time.exit_ns,
                          consumed);
    }
  }
  return ParseState::Invalid;
}

ParseState AmqpProtocolParser::parse_content_header(Direction direction, const FrameHeader& header,
                                                    std::string_view bytes, size_t& consumed) {
  ContentHeader content;
  switch (decode_content_header(bytes.substr(kFrameHeaderSize, header.size), header.size, content)) {
    case Decode::Incomplete:
      return ParseState::NeedsMoreData;
    case Decode::Invalid:
      return ParseState::Invalid;
    case Decode::Complete:
      break;
  }
  // Properties (headers tables included) are not read.
  consumed = kFrameHeaderSize + kContentHeaderPrefix;
  skip_[direction_index(direction)] = header.frame_size() - consumed;
  if (role() == Role::Unknown) return ParseState::Ignored;
  stitcher_.on_content_header(sender_of(direction), header.channel, content.body_size);
  return ParseState::Success;
}

ParseState AmqpProtocolParser::parse_method(Direction direction, const FrameHeader& header, std::string_view bytes,
                                            uint64_t time_ns, size_t& consumed) {
  Method m;
  size_t used = 0;
  switch (decode_method(bytes.substr(kFrameHeaderSize, header.size), header.size, m, used)) {
    case Decode::Incomplete:
      return ParseState::NeedsMoreData;
    case Decode::Invalid:
      return ParseState::Invalid;
    case Decode::Complete:
      break;
  }
  // What follows the arguments read (routing keys, texts, tables) is skipped.
  consumed = kFrameHeaderSize + used;
  skip_[direction_index(direction)] = header.frame_size() - consumed;
  if (role() == Role::Unknown) {
    infer_role(direction, m.id);
    if (role() == Role::Unknown) return ParseState::Ignored;
  }
  stitcher_.on_method(sender_of(direction), header.channel, m, time_ns);
  return ParseState::Success;
}

size_t AmqpProtocolParser::find_frame_boundary(Direction, std::string_view bytes) const {
  return find_frame_start(bytes);
}

void AmqpProtocolParser::on_gap(Direction direction, uint64_t) {
  skip_[direction_index(direction)] = 0;
  if (role() != Role::Unknown) stitcher_.on_gap(sender_of(direction));
}

size_t AmqpProtocolParser::body_bytes_to_skip(Direction direction) const {
  return static_cast<size_t>(skip_[direction_index(direction)]);
}

void AmqpProtocolParser::on_close() { stitcher_.on_close(); }

ProtocolRegistry::Factory make_factory(AmqpLimits limits) {
  return [limits](RecordSink& sink, Role role) -> std::unique_ptr<ProtocolParser> {
    return std::make_unique<AmqpProtocolParser>(sink, role, limits);
  };
}

}  // namespace redeye::protocols::amqp

#include "conn/connection_tracker.h"

#include <utility>

namespace redeye::conn {

using protocols::Direction;

struct ConnectionTracker::Session {
  Session(std::unique_ptr<protocols::ProtocolParser> p, size_t max_buffered)
      : parser(std::move(p)),
        send(Direction::Send, *parser, max_buffered),
        recv(Direction::Recv, *parser, max_buffered) {}

  DataStream& stream(Direction direction) { return direction == Direction::Send ? send : recv; }

  // Declared first: the streams hold a reference to it.
  std::unique_ptr<protocols::ProtocolParser> parser;
  DataStream send;
  DataStream recv;
};

ConnectionTracker::ConnectionTracker(const protocols::ProtocolRegistry& registry,
                                     protocols::RecordSink& sink, size_t max_buffered_bytes)
    : registry_(registry), sink_(sink), max_buffered_(max_buffered_bytes) {}

ConnectionTracker::~ConnectionTracker() = default;

void ConnectionTracker::set_role(protocols::Role role) {
  if (!session_) role_ = role;
}

void ConnectionTracker::set_protocol(redeye_protocol protocol) {
  if (protocol == REDEYE_PROTO_UNKNOWN || protocol_ != REDEYE_PROTO_UNKNOWN || closed_) return;
  protocol_ = protocol;
  // Asked once: an unregistered protocol stays unparsed for the whole
  // connection instead of costing a registry lookup per message.
  if (auto parser = registry_.create(protocol, sink_, role_))
    session_ = std::make_unique<Session>(std::move(parser), max_buffered_);
}

void ConnectionTracker::on_data(Direction direction, uint64_t position, uint64_t message_size,
                                std::string_view captured, protocols::MessageTime time) {
  if (closed_) {
    bytes_after_close_ += message_size;
    return;
  }
  if (!session_) {
    bytes_without_parser_ += message_size;
    return;
  }
  session_->stream(direction).append(position, message_size, captured, time);
}

void ConnectionTracker::on_data(Direction direction, uint64_t position, uint64_t message_size,
                                std::string_view captured, std::string_view tail, protocols::MessageTime time) {
  if (tail.empty() || closed_ || !session_ || captured.size() + tail.size() >= message_size) {
    on_data(direction, position, message_size, captured, time);
    return;
  }
  const uint64_t head_size = message_size - tail.size();
  DataStream& stream = session_->stream(direction);
  stream.append(position, head_size, captured, time, /*tail_follows=*/true);
  stream.append(position + head_size, tail.size(), tail, time);
}

void ConnectionTracker::on_segment(Direction direction, uint64_t position, uint64_t length, std::string_view captured,
                                   protocols::MessageTime time, bool elided) {
  if (closed_) {
    bytes_after_close_ += length;
    return;
  }
  if (!session_) {
    bytes_without_parser_ += length;
    return;
  }
  session_->stream(direction).append(position, length, captured, time, elided && captured.size() < length);
}

void ConnectionTracker::on_close() {
  if (closed_) return;
  closed_ = true;
  if (!session_) return;
  session_->send.close();
  session_->recv.close();
  session_->parser->on_close();
}

const protocols::ProtocolParser* ConnectionTracker::parser() const {
  return session_ ? session_->parser.get() : nullptr;
}

const DataStream* ConnectionTracker::stream(Direction direction) const {
  if (!session_) return nullptr;
  return direction == Direction::Send ? &session_->send : &session_->recv;
}

}  // namespace redeye::conn

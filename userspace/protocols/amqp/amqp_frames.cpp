#include "protocols/amqp/amqp_frames.h"

namespace redeye::protocols::amqp {
namespace {

// Big-endian fields read from the front of a view; every read is bounded.
class Reader {
 public:
  explicit Reader(std::string_view bytes) : bytes_(bytes) {}

  bool u8(uint8_t& v) {
    if (left() < 1) return false;
    v = static_cast<uint8_t>(bytes_[pos_++]);
    return true;
  }
  bool u16(uint16_t& v) {
    uint64_t x = 0;
    if (!be(2, x)) return false;
    v = static_cast<uint16_t>(x);
    return true;
  }
  bool u64(uint64_t& v) { return be(8, v); }
  bool skip(size_t n) {
    if (left() < n) return false;
    pos_ += n;
    return true;
  }
  // A short string: one length octet, then that many bytes.
  bool shortstr(std::string* out) {
    uint8_t n = 0;
    if (!u8(n) || left() < n) return false;
    if (out) out->assign(bytes_.substr(pos_, n));
    pos_ += n;
    return true;
  }
  size_t pos() const { return pos_; }

 private:
  size_t left() const { return bytes_.size() - pos_; }
  bool be(size_t n, uint64_t& v) {
    if (left() < n) return false;
    v = 0;
    for (size_t i = 0; i < n; ++i) v = v << 8 | static_cast<uint8_t>(bytes_[pos_ + i]);
    pos_ += n;
    return true;
  }

  std::string_view bytes_;
  size_t pos_ = 0;
};

// Reads the arguments `out.id` needs. False when the bytes ran out.
bool read_arguments(Reader& r, Method& out) {
  uint8_t bits = 0;
  switch (out.id) {
    case method::kConnectionClose:
    case method::kChannelClose:
      // reply-code, reply-text, class-id, method-id: only the code is needed.
      return r.u16(out.reply_code);
    case method::kQueueDeclare:
      return r.skip(2) && r.shortstr(&out.queue);
    case method::kQueueDeclareOk:
      return r.shortstr(&out.queue);
    case method::kQueueBind:
      return r.skip(2) && r.shortstr(&out.queue) && r.shortstr(&out.exchange);
    case method::kBasicConsume:
      // reserved, queue, consumer-tag, no-local | no-ack | exclusive | no-wait, arguments
      if (!r.skip(2) || !r.shortstr(&out.queue) || !r.shortstr(&out.consumer_tag) || !r.u8(bits)) return false;
      out.no_ack = bits & 0x02;
      out.no_wait = bits & 0x08;
      return true;
    case method::kBasicConsumeOk:
    case method::kBasicCancelOk:
      return r.shortstr(&out.consumer_tag);
    case method::kBasicCancel:
      if (!r.shortstr(&out.consumer_tag) || !r.u8(bits)) return false;
      out.no_wait = bits & 0x01;
      return true;
    case method::kBasicPublish:
      // reserved, exchange, routing-key (never kept), mandatory | immediate
      return r.skip(2) && r.shortstr(&out.exchange);
    case method::kBasicReturn:
      // reply-code, reply-text, exchange, routing-key
      return r.u16(out.reply_code) && r.shortstr(nullptr) && r.shortstr(&out.exchange);
    case method::kBasicDeliver:
      // consumer-tag, delivery-tag, redelivered, exchange, routing-key
      return r.shortstr(&out.consumer_tag) && r.u64(out.delivery_tag) && r.skip(1) && r.shortstr(&out.exchange);
    case method::kBasicGet:
      if (!r.skip(2) || !r.shortstr(&out.queue) || !r.u8(bits)) return false;
      out.no_ack = bits & 0x01;
      return true;
    case method::kBasicGetOk:
      // delivery-tag, redelivered, exchange, routing-key, message-count
      return r.u64(out.delivery_tag) && r.skip(1) && r.shortstr(&out.exchange);
    case method::kBasicAck:
      if (!r.u64(out.delivery_tag) || !r.u8(bits)) return false;
      out.multiple = bits & 0x01;
      return true;
    case method::kBasicReject:
      if (!r.u64(out.delivery_tag) || !r.u8(bits)) return false;
      out.requeue = bits & 0x01;
      return true;
    case method::kBasicNack:
      if (!r.u64(out.delivery_tag) || !r.u8(bits)) return false;
      out.multiple = bits & 0x01;
      out.requeue = bits & 0x02;
      return true;
    case method::kConfirmSelect:
      if (!r.u8(bits)) return false;
      out.no_wait = bits & 0x01;
      return true;
    default:
      return true;  // framed and named; its arguments are not needed
  }
}

bool plausible_header(std::string_view bytes) {
  if (bytes.size() >= kProtocolHeader.size() && bytes.substr(0, kProtocolHeader.size()) == kProtocolHeader)
    return true;
  // Only a frame whose frame end is there and right: after lost bytes the
  // search runs over message bodies, where a type byte and a size alone are
  // no evidence (a false method frame would count deliveries that never
  // were). A frame cut by the capture is given up.
  FrameHeader h;
  if (parse_frame_header(bytes, h) != Decode::Complete) return false;
  const std::string_view payload = bytes.substr(kFrameHeaderSize);
  if (payload.size() <= h.size || static_cast<uint8_t>(payload[h.size]) != kFrameEnd) return false;
  switch (h.type) {
    case FrameType::Heartbeat:
      return true;  // size 0 and channel 0 checked by parse_frame_header
    case FrameType::Header:
      return payload[0] == 0 && payload[1] == 60 && payload[2] == 0 && payload[3] == 0;
    case FrameType::Method: {
      const uint32_t id = method_id(static_cast<uint16_t>(static_cast<uint8_t>(payload[0]) << 8 |
                                                          static_cast<uint8_t>(payload[1])),
                                    static_cast<uint16_t>(static_cast<uint8_t>(payload[2]) << 8 |
                                                          static_cast<uint8_t>(payload[3])));
      return sender_of_method(id) != MethodSender::Unknown;
    }
    case FrameType::Body:
      return true;  // nothing but the frame end tells a body from noise
  }
  return false;
}

}  // namespace

Decode parse_frame_header(std::string_view bytes, FrameHeader& out) {
  if (bytes.empty()) return Decode::Incomplete;
  const uint8_t type = static_cast<uint8_t>(bytes[0]);
  if (type != 1 && type != 2 && type != 3 && type != 8) return Decode::Invalid;
  if (bytes.size() < kFrameHeaderSize) return Decode::Incomplete;
  out.type = static_cast<FrameType>(type);
  out.channel = static_cast<uint16_t>(static_cast<uint8_t>(bytes[1]) << 8 | static_cast<uint8_t>(bytes[2]));
  out.size = 0;
  for (size_t i = 3; i < 7; ++i) out.size = out.size << 8 | static_cast<uint8_t>(bytes[i]);
  if (out.size >= kMaxFrameSize) return Decode::Invalid;
  if (out.type == FrameType::Heartbeat && (out.size != 0 || out.channel != 0)) return Decode::Invalid;
  if (out.type == FrameType::Method && out.size < 4) return Decode::Invalid;
  if (out.type == FrameType::Header && out.size < kContentHeaderPrefix + 2) return Decode::Invalid;
  return Decode::Complete;
}

MethodSender sender_of_method(uint32_t id) {
  const uint16_t cls = static_cast<uint16_t>(id >> 16);
  const uint16_t m = static_cast<uint16_t>(id & 0xffff);
  switch (cls) {
    case 10:  // connection
      switch (m) {
        case 10: case 20: case 30: case 41: case 60: case 61: case 71: return MethodSender::Broker;
        case 11: case 21: case 31: case 40: case 70: return MethodSender::Client;
        case 50: case 51: return MethodSender::Both;
      }
      break;
    case 20:  // channel
      switch (m) {
        case 10: return MethodSender::Client;
        case 11: return MethodSender::Broker;
        case 20: case 21: case 40: case 41: return MethodSender::Both;
      }
      break;
    case 40:  // exchange
    case 50:  // queue
      switch (m) {
        case 10: case 20: case 30: case 40: case 50: return MethodSender::Client;
        case 11: case 21: case 31: case 41: case 51: return MethodSender::Broker;
      }
      break;
    case 60:  // basic
      switch (m) {
        case 10: case 20: case 40: case 70: case 90: case 100: case 110: return MethodSender::Client;
        case 11: case 21: case 50: case 60: case 71: case 72: case 111: return MethodSender::Broker;
        case 30: case 31: case 80: case 120: return MethodSender::Both;
      }
      break;
    case 85:  // confirm
      if (m == 10) return MethodSender::Client;
      if (m == 11) return MethodSender::Broker;
      break;
    case 90:  // tx
      if (m == 10 || m == 20 || m == 30) return MethodSender::Client;
      if (m == 11 || m == 21 || m == 31) return MethodSender::Broker;
      break;
  }
  return MethodSender::Unknown;
}

Decode decode_method(std::string_view payload, uint32_t size, Method& out, size_t& used) {
  out = Method{};
  if (payload.size() > size) payload = payload.substr(0, size);
  const Decode short_of_bytes = payload.size() < size ? Decode::Incomplete : Decode::Invalid;
  Reader r(payload);
  uint16_t cls = 0, m = 0;
  if (!r.u16(cls) || !r.u16(m)) return short_of_bytes;
  out.id = method_id(cls, m);
  if (sender_of_method(out.id) == MethodSender::Unknown) return Decode::Invalid;
  if (!read_arguments(r, out)) return short_of_bytes;
  used = r.pos();
  return Decode::Complete;
}

Decode decode_content_header(std::string_view payload, uint32_t size, ContentHeader& out) {
  if (size < kContentHeaderPrefix + 2) return Decode::Invalid;
  if (payload.size() < kContentHeaderPrefix) return Decode::Incomplete;
  Reader r(payload);
  uint16_t weight = 0;
  r.u16(out.class_id);
  r.u16(weight);
  r.u64(out.body_size);
  // Only basic has content; weight is always 0.
  if (out.class_id != 60 || weight != 0) return Decode::Invalid;
  return Decode::Complete;
}

size_t find_frame_start(std::string_view bytes) {
  for (size_t i = 0; i < bytes.size(); ++i) {
    if (plausible_header(bytes.substr(i))) return i;
  }
  return std::string_view::npos;
}

}  // namespace redeye::protocols::amqp

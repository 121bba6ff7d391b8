// AMQP 0-9-1 framing: the protocol header, frame headers, the few method
// arguments the metrics need and content headers, read from the front of a
// byte view. Stateless functions; only the strings a caller keeps are
// copied. Argument tables, message properties and bodies are never read:
// the stream skips them by the sizes the frames declare.
//
// A frame is type (1 octet), channel (2), payload size (4, big-endian), the
// payload and the frame-end octet 0xCE. Types: 1 method, 2 content header,
// 3 content body, 8 heartbeat. A method payload starts with class-id and
// method-id (2 octets each); consecutive bit arguments share one octet,
// lowest bit first.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace redeye::protocols::amqp {

inline constexpr std::string_view kProtocolHeader{"AMQP\0\0\x09\x01", 8};
inline constexpr size_t kFrameHeaderSize = 7;
inline constexpr uint8_t kFrameEnd = 0xCE;
// A declared payload size at or over this is not AMQP: brokers negotiate
// frame_max well below (RabbitMQ: 128 KiB by default, at most 2 GiB is
// allowed but never seen in practice).
inline constexpr uint32_t kMaxFrameSize = 1u << 28;

enum class FrameType : uint8_t { Method = 1, Header = 2, Body = 3, Heartbeat = 8 };

enum class Decode {
  Complete,    // the element is there; outputs set
  Incomplete,  // a plausible start, the rest has not arrived
  Invalid,     // not AMQP 0-9-1
};

struct FrameHeader {
  FrameType type = FrameType::Method;
  uint16_t channel = 0;
  uint32_t size = 0;  // payload bytes, without header and frame end
  // The whole frame, frame end included.
  uint64_t frame_size() const { return kFrameHeaderSize + uint64_t{size} + 1; }
};

Decode parse_frame_header(std::string_view bytes, FrameHeader& out);

// class-id << 16 | method-id.
constexpr uint32_t method_id(uint16_t class_id, uint16_t method) { return uint32_t{class_id} << 16 | method; }

namespace method {
inline constexpr uint32_t kConnectionStart = method_id(10, 10);
inline constexpr uint32_t kConnectionStartOk = method_id(10, 11);
inline constexpr uint32_t kConnectionTune = method_id(10, 30);
inline constexpr uint32_t kConnectionTuneOk = method_id(10, 31);
inline constexpr uint32_t kConnectionOpen = method_id(10, 40);
inline constexpr uint32_t kConnectionOpenOk = method_id(10, 41);
inline constexpr uint32_t kConnectionClose = method_id(10, 50);
inline constexpr uint32_t kConnectionCloseOk = method_id(10, 51);
inline constexpr uint32_t kConnectionBlocked = method_id(10, 60);
inline constexpr uint32_t kConnectionUnblocked = method_id(10, 61);
inline constexpr uint32_t kChannelOpen = method_id(20, 10);
inline constexpr uint32_t kChannelOpenOk = method_id(20, 11);
inline constexpr uint32_t kChannelClose = method_id(20, 40);
inline constexpr uint32_t kChannelCloseOk = method_id(20, 41);
inline constexpr uint32_t kQueueDeclare = method_id(50, 10);
inline constexpr uint32_t kQueueDeclareOk = method_id(50, 11);
inline constexpr uint32_t kQueueBind = method_id(50, 20);
inline constexpr uint32_t kQueueBindOk = method_id(50, 21);
inline constexpr uint32_t kBasicQos = method_id(60, 10);
inline constexpr uint32_t kBasicQosOk = method_id(60, 11);
inline constexpr uint32_t kBasicConsume = method_id(60, 20);
inline constexpr uint32_t kBasicConsumeOk = method_id(60, 21);
inline constexpr uint32_t kBasicCancel = method_id(60, 30);
inline constexpr uint32_t kBasicCancelOk = method_id(60, 31);
inline constexpr uint32_t kBasicPublish = method_id(60, 40);
inline constexpr uint32_t kBasicReturn = method_id(60, 50);
inline constexpr uint32_t kBasicDeliver = method_id(60, 60);
inline constexpr uint32_t kBasicGet = method_id(60, 70);
inline constexpr uint32_t kBasicGetOk = method_id(60, 71);
inline constexpr uint32_t kBasicGetEmpty = method_id(60, 72);
inline constexpr uint32_t kBasicAck = method_id(60, 80);
inline constexpr uint32_t kBasicReject = method_id(60, 90);
inline constexpr uint32_t kBasicRecoverAsync = method_id(60, 100);
inline constexpr uint32_t kBasicRecover = method_id(60, 110);
inline constexpr uint32_t kBasicNack = method_id(60, 120);
inline constexpr uint32_t kConfirmSelect = method_id(85, 10);
inline constexpr uint32_t kConfirmSelectOk = method_id(85, 11);
}  // namespace method

// Which end may send a method: a method only one end sends tells, on a
// connection older than the agent, which end the traced process is.
enum class MethodSender : uint8_t { Unknown, Client, Broker, Both };
MethodSender sender_of_method(uint32_t id);

// The arguments of the methods the metrics use; the rest stay empty.
struct Method {
  uint32_t id = 0;
  std::string exchange;      // publish, deliver, get-ok, return, bind
  std::string queue;         // consume, get, declare, declare-ok, bind
  std::string consumer_tag;  // consume, consume-ok, cancel, cancel-ok, deliver
  uint64_t delivery_tag = 0; // deliver, get-ok, ack, nack, reject
  uint16_t reply_code = 0;   // connection/channel close, return
  bool multiple = false;     // ack, nack
  bool requeue = false;      // nack, reject
  bool no_ack = false;       // consume, get
  bool no_wait = false;      // consume, cancel, confirm.select
};

// The method at the front of `payload`, the first bytes of a method frame's
// payload of `size` bytes (payload.size() <= size). `used`: payload bytes
// read; the rest (routing keys, argument tables, reply texts) is not needed.
// Incomplete while a needed argument lies beyond the bytes given.
Decode decode_method(std::string_view payload, uint32_t size, Method& out, size_t& used);

// What the metrics need of a content header (class-id, weight, body size).
inline constexpr size_t kContentHeaderPrefix = 12;
struct ContentHeader {
  uint16_t class_id = 0;
  uint64_t body_size = 0;
};
Decode decode_content_header(std::string_view payload, uint32_t size, ContentHeader& out);

// Offset of the first plausible frame (or protocol header) in `bytes`, or
// npos. A frame is plausible only whole, its frame end in place.
size_t find_frame_start(std::string_view bytes);

}  // namespace redeye::protocols::amqp

// AMQP 0-9-1 framing and method decoding on byte fixtures built from the
// specification (amqp_fixtures.h).
#include "protocols/amqp/amqp_frames.h"

#include <gtest/gtest.h>

#include <string>
#include <string_view>

#include "amqp_fixtures.h"

namespace redeye::protocols::amqp {
namespace {

using namespace redeye::testing::amqp_bytes;

// The method of a whole frame, decoded from its payload.
Method decode_whole(const std::string& frame_bytes, size_t* used_out = nullptr) {
  FrameHeader h;
  EXPECT_EQ(parse_frame_header(frame_bytes, h), Decode::Complete);
  EXPECT_EQ(h.type, FrameType::Method);
  EXPECT_EQ(h.frame_size(), frame_bytes.size());
  Method m;
  size_t used = 0;
  EXPECT_EQ(decode_method(std::string_view(frame_bytes).substr(kFrameHeaderSize, h.size), h.size, m, used),
            Decode::Complete);
  EXPECT_LE(used, h.size);
  if (used_out) *used_out = used;
  return m;
}

TEST(AmqpFrames, FrameHeaderFields) {
  FrameHeader h;
  const std::string f = basic_ack(7, 1);
  ASSERT_EQ(parse_frame_header(f, h), Decode::Complete);
  EXPECT_EQ(h.type, FrameType::Method);
  EXPECT_EQ(h.channel, 7);
  EXPECT_EQ(h.size, 13u);  // class, method, delivery-tag, bits
  EXPECT_EQ(h.frame_size(), f.size());
  ASSERT_EQ(parse_frame_header(heartbeat(), h), Decode::Complete);
  EXPECT_EQ(h.type, FrameType::Heartbeat);
  ASSERT_EQ(parse_frame_header(body(3, "xyz"), h), Decode::Complete);
  EXPECT_EQ(h.type, FrameType::Body);
  EXPECT_EQ(h.size, 3u);
}

TEST(AmqpFrames, FrameHeaderIncompleteAndInvalid) {
  FrameHeader h;
  const std::string f = basic_ack(1, 1);
  for (size_t n = 0; n < kFrameHeaderSize; ++n)
    EXPECT_EQ(parse_frame_header(f.substr(0, n), h), Decode::Incomplete) << n;
  EXPECT_EQ(parse_frame_header("GET / HTTP/1.1\r\n", h), Decode::Invalid);
  EXPECT_EQ(parse_frame_header(std::string("\x04\0\0\0\0\0\0\xCE", 8), h), Decode::Invalid);  // type 4
  // a heartbeat has no payload and lives on channel 0
  EXPECT_EQ(parse_frame_header(frame(8, 1, ""), h), Decode::Invalid);
  EXPECT_EQ(parse_frame_header(frame(8, 0, "x"), h), Decode::Invalid);
  // a method payload holds at least class and method ids
  EXPECT_EQ(parse_frame_header(frame(1, 1, "ab"), h), Decode::Invalid);
  // sizes no broker negotiates
  EXPECT_EQ(parse_frame_header(std::string("\x03\0\x01\x7f\xff\xff\xff", 7), h), Decode::Invalid);
}

TEST(AmqpFrames, PublishKeepsTheExchangeNotTheRoutingKey) {
  size_t used = 0;
  const Method m = decode_whole(basic_publish(1, "orders", "eu.customer.42", true), &used);
  EXPECT_EQ(m.id, method::kBasicPublish);
  EXPECT_EQ(m.exchange, "orders");
  EXPECT_EQ(used, 4u + 2 + 7);  // ids, reserved, exchange: the routing key is skipped
  EXPECT_EQ(decode_whole(basic_publish(1, "", "q")).exchange, "");
}

TEST(AmqpFrames, DeliverGetOkAndReturn) {
  Method m = decode_whole(basic_deliver(2, "ctag1.abc", 99, "ex", "rk", true));
  EXPECT_EQ(m.id, method::kBasicDeliver);
  EXPECT_EQ(m.consumer_tag, "ctag1.abc");
  EXPECT_EQ(m.delivery_tag, 99u);
  EXPECT_EQ(m.exchange, "ex");

  m = decode_whole(basic_get_ok(2, 0x0102030405060708ULL, "amq.direct", "rk", 5));
  EXPECT_EQ(m.id, method::kBasicGetOk);
  EXPECT_EQ(m.delivery_tag, 0x0102030405060708ULL);
  EXPECT_EQ(m.exchange, "amq.direct");

  EXPECT_EQ(decode_whole(basic_get_empty(2)).id, method::kBasicGetEmpty);

  m = decode_whole(basic_return(2, 312, "events", "nowhere"));
  EXPECT_EQ(m.id, method::kBasicReturn);
  EXPECT_EQ(m.reply_code, 312);
  EXPECT_EQ(m.exchange, "events");
}

TEST(AmqpFrames, GetConsumeCancelFlags) {
  Method m = decode_whole(basic_get(1, "jobs", true));
  EXPECT_EQ(m.id, method::kBasicGet);
  EXPECT_EQ(m.queue, "jobs");
  EXPECT_TRUE(m.no_ack);
  EXPECT_FALSE(decode_whole(basic_get(1, "jobs", false)).no_ack);

  m = decode_whole(basic_consume(1, "jobs", "worker-1", true, true));
  EXPECT_EQ(m.id, method::kBasicConsume);
  EXPECT_EQ(m.queue, "jobs");
  EXPECT_EQ(m.consumer_tag, "worker-1");
  EXPECT_TRUE(m.no_ack);
  EXPECT_TRUE(m.no_wait);
  m = decode_whole(basic_consume(1, "jobs", ""));
  EXPECT_FALSE(m.no_ack);
  EXPECT_FALSE(m.no_wait);
  EXPECT_EQ(m.consumer_tag, "");

  m = decode_whole(basic_consume_ok(1, "amq.ctag-XYZ"));
  EXPECT_EQ(m.id, method::kBasicConsumeOk);
  EXPECT_EQ(m.consumer_tag, "amq.ctag-XYZ");
  m = decode_whole(basic_cancel(1, "worker-1", true));
  EXPECT_EQ(m.id, method::kBasicCancel);
  EXPECT_TRUE(m.no_wait);
  EXPECT_EQ(decode_whole(basic_cancel_ok(1, "worker-1")).consumer_tag, "worker-1");
}

TEST(AmqpFrames, AckNackRejectBits) {
  Method m = decode_whole(basic_ack(1, 17, true));
  EXPECT_EQ(m.id, method::kBasicAck);
  EXPECT_EQ(m.delivery_tag, 17u);
  EXPECT_TRUE(m.multiple);
  EXPECT_FALSE(decode_whole(basic_ack(1, 17, false)).multiple);

  m = decode_whole(basic_reject(1, 5, true));
  EXPECT_EQ(m.id, method::kBasicReject);
  EXPECT_TRUE(m.requeue);
  EXPECT_FALSE(m.multiple);
  EXPECT_FALSE(decode_whole(basic_reject(1, 5, false)).requeue);

  for (const bool multiple : {false, true}) {
    for (const bool requeue : {false, true}) {
      m = decode_whole(basic_nack(1, 8, multiple, requeue));
      EXPECT_EQ(m.id, method::kBasicNack);
      EXPECT_EQ(m.multiple, multiple);
      EXPECT_EQ(m.requeue, requeue);
    }
  }
}

TEST(AmqpFrames, QueueDeclareBindAndConfirm) {
  Method m = decode_whole(queue_declare(1, "orders"));
  EXPECT_EQ(m.id, method::kQueueDeclare);
  EXPECT_EQ(m.queue, "orders");
  EXPECT_EQ(decode_whole(queue_declare_ok(1, "amq.gen-123")).queue, "amq.gen-123");
  m = decode_whole(queue_bind(1, "orders", "shop", "order.*"));
  EXPECT_EQ(m.id, method::kQueueBind);
  EXPECT_EQ(m.queue, "orders");
  EXPECT_EQ(m.exchange, "shop");
  EXPECT_EQ(decode_whole(queue_bind_ok(1)).id, method::kQueueBindOk);
  EXPECT_EQ(decode_whole(confirm_select(1)).id, method::kConfirmSelect);
  EXPECT_EQ(decode_whole(confirm_select_ok(1)).id, method::kConfirmSelectOk);
  EXPECT_EQ(decode_whole(basic_qos(1, 50)).id, method::kBasicQos);
}

TEST(AmqpFrames, ClosesCarryTheirReplyCode) {
  Method m = decode_whole(channel_close(1, 404, "NOT_FOUND - no exchange 'missing' in vhost '/'", 60, 40));
  EXPECT_EQ(m.id, method::kChannelClose);
  EXPECT_EQ(m.reply_code, 404);
  m = decode_whole(connection_close(320, "CONNECTION_FORCED - Closed via management plugin"));
  EXPECT_EQ(m.id, method::kConnectionClose);
  EXPECT_EQ(m.reply_code, 320);
  EXPECT_EQ(decode_whole(channel_close_ok(1)).id, method::kChannelCloseOk);
  EXPECT_EQ(decode_whole(connection_close_ok()).id, method::kConnectionCloseOk);
  EXPECT_EQ(decode_whole(connection_blocked("low on memory")).id, method::kConnectionBlocked);
  EXPECT_EQ(decode_whole(connection_unblocked()).id, method::kConnectionUnblocked);
}

TEST(AmqpFrames, HandshakeMethodsAreNamedWithoutTheirTables) {
  for (const std::string& f : {connection_start(), connection_start_ok(), connection_tune(), connection_tune_ok(),
                               connection_open(), connection_open_ok(), channel_open(1), channel_open_ok(1)}) {
    size_t used = 0;
    const Method m = decode_whole(f, &used);
    EXPECT_NE(sender_of_method(m.id), MethodSender::Unknown);
    EXPECT_EQ(used, 4u);  // nothing of theirs is needed
  }
}

TEST(AmqpFrames, ArgumentsCutShortAreIncompleteThenInvalidWhenTheFrameSaysSo) {
  const std::string f = basic_deliver(1, "ctag", 3, "exchange", "key");
  FrameHeader h;
  ASSERT_EQ(parse_frame_header(f, h), Decode::Complete);
  const std::string_view payload = std::string_view(f).substr(kFrameHeaderSize, h.size);
  Method m;
  size_t used = 0;
  // every prefix that stops before the exchange ends
  const size_t needed = 4 + 5 + 8 + 1 + 9;
  for (size_t n = 0; n < needed; ++n)
    EXPECT_EQ(decode_method(payload.substr(0, n), h.size, m, used), Decode::Incomplete) << n;
  EXPECT_EQ(decode_method(payload.substr(0, needed), h.size, m, used), Decode::Complete);
  EXPECT_EQ(used, needed);
  // a frame whose declared size ends inside an argument is not AMQP
  EXPECT_EQ(decode_method(payload.substr(0, 10), 10, m, used), Decode::Invalid);
  // unknown class or method
  EXPECT_EQ(decode_method(be16(60) + be16(99), 4, m, used), Decode::Invalid);
  EXPECT_EQ(decode_method(be16(70) + be16(10), 4, m, used), Decode::Invalid);
}

TEST(AmqpFrames, ContentHeaderBodySize) {
  const std::string f = content_header(4, 1u << 20);
  FrameHeader h;
  ASSERT_EQ(parse_frame_header(f, h), Decode::Complete);
  EXPECT_EQ(h.type, FrameType::Header);
  ContentHeader c;
  const std::string_view payload = std::string_view(f).substr(kFrameHeaderSize, h.size);
  ASSERT_EQ(decode_content_header(payload, h.size, c), Decode::Complete);
  EXPECT_EQ(c.class_id, 60);
  EXPECT_EQ(c.body_size, 1u << 20);
  EXPECT_EQ(decode_content_header(payload.substr(0, 11), h.size, c), Decode::Incomplete);
  const std::string wrong_class = be16(50) + be16(0) + be64(1) + be16(0);
  EXPECT_EQ(decode_content_header(wrong_class, 14, c), Decode::Invalid);
}

TEST(AmqpFrames, SendersOfMethods) {
  EXPECT_EQ(sender_of_method(method::kBasicPublish), MethodSender::Client);
  EXPECT_EQ(sender_of_method(method::kBasicConsume), MethodSender::Client);
  EXPECT_EQ(sender_of_method(method::kBasicGet), MethodSender::Client);
  EXPECT_EQ(sender_of_method(method::kBasicReject), MethodSender::Client);
  EXPECT_EQ(sender_of_method(method::kConnectionStartOk), MethodSender::Client);
  EXPECT_EQ(sender_of_method(method::kBasicDeliver), MethodSender::Broker);
  EXPECT_EQ(sender_of_method(method::kBasicGetOk), MethodSender::Broker);
  EXPECT_EQ(sender_of_method(method::kBasicReturn), MethodSender::Broker);
  EXPECT_EQ(sender_of_method(method::kConnectionStart), MethodSender::Broker);
  EXPECT_EQ(sender_of_method(method::kConnectionBlocked), MethodSender::Broker);
  EXPECT_EQ(sender_of_method(method::kBasicAck), MethodSender::Both);
  EXPECT_EQ(sender_of_method(method::kBasicNack), MethodSender::Both);
  EXPECT_EQ(sender_of_method(method::kChannelClose), MethodSender::Both);
  EXPECT_EQ(sender_of_method(method_id(60, 41)), MethodSender::Unknown);
}

TEST(AmqpFrames, FindFrameStartSkipsNoise) {
  const std::string frames = basic_ack(1, 4) + heartbeat();
  EXPECT_EQ(find_frame_start(frames), 0u);
  EXPECT_EQ(find_frame_start("garbage " + frames), 8u);
  EXPECT_EQ(find_frame_start("zz" + protocol_header()), 2u);
  // A body frame is only recognised by its frame end.
  const std::string b = body(1, "payload");
  EXPECT_EQ(find_frame_start("\xff" + b), 1u);
  // A type byte whose frame end is wrong is passed over.
  std::string broken = basic_ack(1, 4);
  broken.back() = 'x';
  EXPECT_EQ(find_frame_start(broken + heartbeat()), broken.size());
  EXPECT_EQ(find_frame_start("hello world"), std::string_view::npos);
  // A frame cut before its end is not taken: the next whole one is.
  const std::string deliver = basic_deliver(1, "c", 7, "", "k");
  EXPECT_EQ(find_frame_start(deliver.substr(0, deliver.size() - 1)), std::string_view::npos);
  EXPECT_EQ(find_frame_start(body(1, "abc").substr(3) + deliver), 8u);
}

}  // namespace
}  // namespace redeye::protocols::amqp

// AMQP 0-9-1 connections end to end: raw kernel-like messages (position,
// size, captured prefix, syscall times) through ConnectionTracker and
// DataStream into AmqpProtocolParser, and the Records that come out, seen
// from the client process and from the broker process.
#include "protocols/amqp/amqp_protocol.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <string_view>
#include <vector>

#include "amqp_fixtures.h"
#include "exchange_fixture.h"

namespace redeye::protocols::amqp {
namespace {

using namespace redeye::testing::amqp_bytes;

struct CollectingSink : RecordSink {
  void on_record(const Record& record) override { records.push_back(record); }
  std::vector<Record> records;
};

class AmqpTest : public redeye::testing::ExchangeTest {
 protected:
  void open(Role role, AmqpLimits limits = {}) {
    sink = CollectingSink{};
    open_connection(REDEYE_PROTO_AMQP, "amqp", make_factory(limits), sink, role);
  }
  // What the client writes / the broker writes, whichever end is traced.
  void client(std::string_view bytes, MessageTime time, uint64_t size = 0) {
    message(client_side(), bytes, time, size);
  }
  void broker(std::string_view bytes, MessageTime time, uint64_t size = 0) {
    message(server_side(), bytes, time, size);
  }
  void handshake() {
    client(protocol_header(), {1, 2});
    broker(connection_start(), {3, 4});
    client(connection_start_ok() + connection_tune_ok() + connection_open(), {5, 6});
    broker(connection_tune(), {7, 8});
    broker(connection_open_ok(), {9, 10});
    client(channel_open(1), {11, 12});
    broker(channel_open_ok(1), {13, 14});
  }

  const AmqpProtocolParser& parser() const { return parser_as<AmqpProtocolParser>(); }
  const AmqpStats& stats() const { return parser().stats(); }

  // Records as "operation key=value ..." lines: what the metrics would use.
  std::vector<std::string> lines() const {
    std::vector<std::string> out;
    for (const Record& r : sink.records) {
      const AmqpDetails& d = *r.amqp;
      std::string s = r.operation;
      if (!d.exchange.empty()) s += " x=" + d.exchange;
      if (!d.queue.empty()) s += " q=" + d.queue;
      if (d.event == AmqpEvent::Confirmed) s += " " + d.outcome;
      if (d.event == AmqpEvent::Settled && d.requeue) s += " requeue";
      if (d.in_flight) s += " in-flight";
      if (d.count != 1) s += " n=" + std::to_string(d.count);
      if (d.reply_code) s += " code=" + std::to_string(d.reply_code) + (d.by_client ? " client" : " server");
      out.push_back(s);
    }
    return out;
  }
  void expect_no_invalid() const {
    EXPECT_EQ(stream(kSend).stats().invalid_frames, 0u);
    EXPECT_EQ(stream(kRecv).stats().invalid_frames, 0u);
  }

  CollectingSink sink;
};

using Lines = std::vector<std::string>;
using AmqpExchange = AmqpTest;

// The event time: write entered for what the process sends, read returned
// for what it receives.
uint64_t at(Role role, bool client_frame, MessageTime t) {
  const bool sent = (role == Role::Client) == client_frame;
  return sent ? t.enter_ns : t.exit_ns;
}

class AmqpBothEnds : public AmqpTest, public ::testing::WithParamInterface<Role> {};

TEST_P(AmqpBothEnds, PublishesOneWritePerMessageWithBodySize) {
  open(GetParam());
  handshake();
  for (int i = 0; i < 3; ++i) client(publish_message(1, "orders", "eu.1", std::string(100 + i, 'b')), {100, 101});
  client(publish_message(1, "", "jobs", "x"), {110, 111});
  EXPECT_EQ(lines(), (Lines{"publish x=orders", "publish x=orders", "publish x=orders", "publish"}));
  EXPECT_EQ(sink.records[2].amqp->body_bytes, 102u);
  EXPECT_EQ(sink.records[0].role, GetParam());
  EXPECT_EQ(sink.records[0].protocol, "amqp");
  EXPECT_EQ(sink.records[0].request_ns, at(GetParam(), true, {100, 101}));
  expect_no_invalid();
}

TEST_P(AmqpBothEnds, ConsumerAcksRejectsAndNacksWithDurations) {
  const Role role = GetParam();
  open(role);
  handshake();
  client(basic_qos(1, 10) + basic_consume(1, "jobs", "c1"), {20, 21});
  broker(basic_qos_ok(1) + basic_consume_ok(1, "c1"), {22, 23});
  // four deliveries in one read
  broker(delivery(1, "c1", 1, "a") + delivery(1, "c1", 2, "b") + delivery(1, "c1", 3, "c") + delivery(1, "c1", 4, "d"),
         {1000, 1001});
  EXPECT_EQ(parser().stitcher().unacked(1), 4u);
  client(basic_ack(1, 1), {2000, 2001});
  client(basic_reject(1, 2, false), {3000, 3001});
  client(basic_nack(1, 3, false, true), {4000, 4001});
  client(basic_ack(1, 4), {5000, 5001});
  EXPECT_EQ(lines(), (Lines{"consume q=jobs", "deliver q=jobs in-flight", "deliver q=jobs in-flight",
                            "deliver q=jobs in-flight", "deliver q=jobs in-flight", "ack q=jobs in-flight",
                            "reject q=jobs in-flight", "nack q=jobs requeue in-flight", "ack q=jobs in-flight"}));
  const Record& ack = sink.records[5];
  EXPECT_EQ(ack.request_ns, at(role, false, {1000, 1001}));
  EXPECT_EQ(ack.response_ns, at(role, true, {2000, 2001}));
  EXPECT_EQ(sink.records[8].response_ns, at(role, true, {5000, 5001}));
  EXPECT_EQ(parser().stitcher().unacked(1), 0u);
  expect_no_invalid();
}

INSTANTIATE_TEST_SUITE_P(ClientAndBroker, AmqpBothEnds, ::testing::Values(Role::Client, Role::Server));

TEST_F(AmqpExchange, MultipleAckSettlesEveryTagUpToItsOwnAndZeroMeansAll) {
  open(Role::Client);
  handshake();
  client(basic_consume(1, "q", "c"), {20, 21});
  broker(basic_consume_ok(1, "c"), {22, 23});
  std::string burst;
  for (uint64_t t = 1; t <= 6; ++t) burst += delivery(1, "c", t, "m");
  broker(burst, {100, 101});
  sink.records.clear();
  client(basic_ack(1, 3, true), {200, 201});
  EXPECT_EQ(sink.records.size(), 3u);
  EXPECT_EQ(parser().stitcher().unacked(1), 3u);
  client(basic_nack(1, 0, true, false), {300, 301});
  EXPECT_EQ(lines(), (Lines{"ack q=q in-flight", "ack q=q in-flight", "ack q=q in-flight", "nack q=q in-flight",
                            "nack q=q in-flight", "nack q=q in-flight"}));
  EXPECT_EQ(parser().stitcher().unacked(1), 0u);
}

TEST_F(AmqpExchange, RecoverGivesEveryDeliveryBack) {
  open(Role::Client);
  handshake();
  client(basic_consume(1, "q", "c"), {20, 21});
  broker(basic_consume_ok(1, "c") + delivery(1, "c", 1, "m") + delivery(1, "c", 2, "m"), {22, 23});
  sink.records.clear();
  client(basic_recover(1, true), {30, 31});
  broker(basic_recover_ok(1) + delivery(1, "c", 3, "m"), {32, 33});
  EXPECT_EQ(lines(), (Lines{"unsettled q=q in-flight n=2", "deliver q=q in-flight"}));
  EXPECT_EQ(parser().stitcher().unacked(1), 1u);
  EXPECT_EQ(stats().deliveries_inferred, 0u);
}

TEST_F(AmqpExchange, BrokerNamedConsumerTagAndNoAckConsumer) {
  open(Role::Client);
  handshake();
  client(basic_consume(1, "events", "", true), {20, 21});
  broker(basic_consume_ok(1, "amq.ctag-1"), {22, 23});
  broker(delivery(1, "amq.ctag-1", 1, "e"), {30, 31});
  EXPECT_EQ(lines(), (Lines{"consume q=events", "deliver q=events"}));
  EXPECT_EQ(parser().stitcher().unacked(1), 0u);  // auto-acknowledged: nothing in flight
  client(basic_cancel(1, "amq.ctag-1"), {40, 41});
  broker(basic_cancel_ok(1, "amq.ctag-1"), {42, 43});
  EXPECT_EQ(lines().back(), "cancel q=events");
  EXPECT_EQ(parser().stitcher().consumers(1), 0u);
}

TEST_F(AmqpExchange, GetGetOkAndGetEmpty) {
  open(Role::Client);
  handshake();
  client(basic_get(1, "jobs"), {10, 11});
  broker(basic_get_ok(1, 1, "", "jobs", 1) + content_header(1, 3) + body(1, "abc"), {20, 21});
  client(basic_get(1, "jobs", true), {30, 31});
  broker(basic_get_ok(1, 2, "", "jobs", 0) + content_header(1, 3) + body(1, "def"), {40, 41});
  client(basic_get(1, "jobs"), {50, 51});
  broker(basic_get_empty(1), {60, 61});
  client(basic_ack(1, 1), {70, 71});
  EXPECT_EQ(lines(), (Lines{"get q=jobs in-flight", "get q=jobs", "ack q=jobs in-flight"}));
  EXPECT_EQ(sink.records[0].amqp->body_bytes, 3u);
  EXPECT_EQ(sink.records[2].request_ns, 21u);
  EXPECT_EQ(sink.records[2].response_ns, 70u);
  EXPECT_EQ(stats().gets_unmatched, 0u);
}

TEST_F(AmqpExchange, PublisherConfirmsAckAndNackTheBrokersNumbers) {
  open(Role::Client);
  handshake();
  client(basic_publish(1, "before", "k") + content_header(1, 1) + body(1, "x"), {5, 6});  // not numbered
  client(confirm_select(1), {10, 11});
  broker(confirm_select_ok(1), {12, 13});
  client(publish_message(1, "shop", "k", "1"), {100, 101});
  client(publish_message(1, "shop", "k", "2"), {110, 111});
  client(publish_message(1, "audit", "k", "3"), {120, 121});
  EXPECT_EQ(parser().stitcher().unconfirmed(1), 3u);
  sink.records.clear();
  broker(basic_ack(1, 2, true), {200, 201});
  broker(basic_nack(1, 3, false, false), {300, 301});
  EXPECT_EQ(lines(), (Lines{"confirm x=shop ack", "confirm x=shop ack", "confirm x=audit nack"}));
  EXPECT_EQ(sink.records[0].request_ns, 100u);
  EXPECT_EQ(sink.records[0].response_ns, 201u);
  EXPECT_EQ(sink.records[2].request_ns, 120u);
  EXPECT_EQ(parser().stitcher().unconfirmed(1), 0u);
  EXPECT_EQ(stats().confirms_unmatched, 0u);
}

TEST_F(AmqpExchange, ReturnedMandatoryPublish) {
  open(Role::Server);
  handshake();
  client(publish_message(1, "events", "nobody", "x", true), {10, 11});
  broker(basic_return(1, 312, "events", "nobody") + content_header(1, 1) + body(1, "x"), {20, 21});
  EXPECT_EQ(lines(), (Lines{"publish x=events", "return x=events code=312 server"}));
  EXPECT_TRUE(sink.records[1].error);
}

TEST_F(AmqpExchange, ChannelClose404ReleasesInFlightAndConsumers) {
  open(Role::Client);
  handshake();
  client(basic_consume(1, "jobs", "c"), {20, 21});
  broker(basic_consume_ok(1, "c") + delivery(1, "c", 1, "a") + delivery(1, "c", 2, "b"), {22, 23});
  sink.records.clear();
  client(publish_message(1, "missing", "k", "x"), {30, 31});
  broker(channel_close(1, 404, "NOT_FOUND - no exchange 'missing' in vhost '/'", 60, 40), {40, 41});
  client(channel_close_ok(1), {50, 51});
  EXPECT_EQ(lines(), (Lines{"publish x=missing", "channel.close code=404 server", "unsettled q=jobs in-flight n=2",
                            "cancel q=jobs"}));
  EXPECT_TRUE(sink.records[1].error);
  EXPECT_EQ(sink.records[1].status, "404");
  EXPECT_EQ(parser().stitcher().channels(), 0u);
}

TEST_F(AmqpExchange, ConnectionClosedByTheBroker) {
  open(Role::Client);
  handshake();
  client(basic_consume(1, "jobs", "c"), {20, 21});
  broker(basic_consume_ok(1, "c"), {22, 23});
  sink.records.clear();
  broker(connection_close(320, "CONNECTION_FORCED - Closed via management plugin"), {30, 31});
  client(connection_close_ok(), {32, 33});
  close();
  EXPECT_EQ(lines(), (Lines{"connection.close code=320 server", "cancel q=jobs"}));
}

TEST_F(AmqpExchange, ClientClosesNormally) {
  open(Role::Server);
  handshake();
  client(channel_close(1, 200, "Normal shutdown"), {10, 11});
  broker(channel_close_ok(1), {12, 13});
  client(connection_close(200, "Normal shutdown"), {14, 15});
  broker(connection_close_ok(), {16, 17});
  EXPECT_EQ(lines(), (Lines{"channel.close code=200 client", "connection.close code=200 client"}));
  EXPECT_FALSE(sink.records[0].error);
}

TEST_F(AmqpExchange, FramesSplitAcrossReadsByteByByte) {
  open(Role::Client);
  handshake();
  client(basic_consume(1, "jobs", "c"), {20, 21});
  broker(basic_consume_ok(1, "c"), {22, 23});
  const std::string bytes = delivery(1, "c", 1, "hello") + heartbeat() + delivery(1, "c", 2, "world");
  for (size_t i = 0; i < bytes.size(); ++i) broker(bytes.substr(i, 1), {100 + i, 101 + i});
  EXPECT_EQ(lines(), (Lines{"consume q=jobs", "deliver q=jobs in-flight", "deliver q=jobs in-flight"}));
  EXPECT_EQ(sink.records[1].amqp->body_bytes, 5u);
  EXPECT_EQ(sink.records[1].request_ns, 101u);  // the read that brought the method's first byte
  expect_no_invalid();
}

TEST_F(AmqpExchange, ManyFramesPerReadWithHeartbeats) {
  open(Role::Server);
  handshake();
  std::string burst;
  for (int i = 0; i < 50; ++i) burst += publish_message(1, "bulk", "k", "payload") + (i % 10 == 0 ? heartbeat() : "");
  client(burst, {10, 11});
  EXPECT_EQ(sink.records.size(), 50u);
  EXPECT_EQ(stats().content_headers, 50u);
  expect_no_invalid();
}

TEST_F(AmqpExchange, LargeBodiesAreSkippedUncaptured) {
  open(Role::Client);
  handshake();
  const uint64_t big = 1u << 20;
  // the body frame's header says 1 MiB follows; only its first bytes are captured
  std::string captured = basic_publish(1, "files", "k") + content_header(1, big);
  captured += "\x03" + be16(1) + be32(static_cast<uint32_t>(big)) + std::string(100, 'z');
  const uint64_t size = captured.size() - 100 + big + 1;
  client(captured, {10, 11}, size);
  client(publish_message(1, "files", "k", "small"), {20, 21});
  EXPECT_EQ(lines(), (Lines{"publish x=files", "publish x=files"}));
  EXPECT_EQ(sink.records[0].amqp->body_bytes, big);
  EXPECT_EQ(stream(client_side()).stats().gaps, 0u);
  expect_no_invalid();
}

TEST_F(AmqpExchange, DeliveriesLostInCaptureAreRecoveredFromTags) {
  open(Role::Client);
  handshake();
  client(basic_consume(1, "jobs", "c"), {20, 21});
  broker(basic_consume_ok(1, "c"), {22, 23});
  std::string burst;
  for (uint64_t t = 1; t <= 10; ++t) burst += delivery(1, "c", t, "m");
  // the kernel copied only the first 3 deliveries of the read
  const size_t per = delivery(1, "c", 1, "m").size();
  broker(burst.substr(0, 3 * per), {100, 101}, burst.size());
  broker(delivery(1, "c", 11, "m"), {200, 201});
  EXPECT_EQ(lines(), (Lines{"consume q=jobs", "deliver q=jobs in-flight", "deliver q=jobs in-flight",
                            "deliver q=jobs in-flight", "deliver q=jobs in-flight n=7", "deliver q=jobs in-flight"}));
  EXPECT_EQ(stats().deliveries_inferred, 7u);
  EXPECT_EQ(parser().stitcher().unacked(1), 11u);
  client(basic_ack(1, 11, true), {300, 301});
  EXPECT_EQ(parser().stitcher().unacked(1), 0u);
}

TEST_F(AmqpExchange, ReadsCutAcrossFramesResynchroniseWithoutInventingDeliveries) {
  open(Role::Client);
  handshake();
  client(basic_consume(1, "jobs", "c"), {20, 21});
  broker(basic_consume_ok(1, "c"), {22, 23});
  std::string stream;
  for (uint64_t t = 1; t <= 20; ++t) stream += delivery(1, "c", t, std::string(30, static_cast<char>(t)));
  // Reads of 150 bytes that do not follow frames; every third one is
  // captured only in part.
  for (size_t at = 0, i = 0; at < stream.size(); at += 150, ++i) {
    const std::string read = stream.substr(at, 150);
    broker(i % 3 == 1 ? read.substr(0, 40) : read, {100 + i, 101 + i}, read.size());
  }
  EXPECT_GT(stats().deliveries_inferred, 0u);
  uint64_t delivered = 0;
  for (const Record& r : sink.records)
    if (r.amqp->event == AmqpEvent::Delivered) delivered += r.amqp->count;
  EXPECT_EQ(delivered, 20u);
  EXPECT_EQ(parser().stitcher().unacked(1), 20u);
}

TEST_F(AmqpExchange, UnknownRoleLearnedFromPublishAndDeliver) {
  open(Role::Unknown);
  // mid-connection: an ack (either end sends it) tells nothing
  sent(basic_ack(1, 9), {1, 2});
  EXPECT_EQ(parser().role(), Role::Unknown);
  sent(publish_message(1, "x", "k", "v"), {3, 4});
  EXPECT_EQ(parser().role(), Role::Client);
  EXPECT_EQ(lines(), (Lines{"publish x=x"}));

  open(Role::Unknown);
  sent(delivery(1, "c", 1, "v"), {3, 4});
  EXPECT_EQ(parser().role(), Role::Server);
  EXPECT_EQ(lines(), (Lines{"deliver"}));  // consumer not seen: not in flight

  open(Role::Unknown);
  received(protocol_header(), {1, 2});
  EXPECT_EQ(parser().role(), Role::Server);
}

TEST_F(AmqpExchange, UnknownConsumerSettlementsAreCountedAndTimed) {
  open(Role::Client);
  broker(delivery(5, "old", 40, "v"), {10, 11});
  client(basic_ack(5, 40), {20, 21});
  client(basic_ack(5, 39), {30, 31});  // delivered before the agent looked
  EXPECT_EQ(lines(), (Lines{"deliver", "ack", "ack"}));
  EXPECT_EQ(sink.records[1].request_ns, 11u);
  EXPECT_EQ(sink.records[2].request_ns, 0u);
  EXPECT_EQ(stats().settlements_unmatched, 1u);
}

TEST_F(AmqpExchange, StateIsBounded) {
  AmqpLimits limits;
  limits.max_channels = 2;
  limits.max_unacked_per_channel = 3;
  limits.max_consumers_per_channel = 1;
  open(Role::Client, limits);
  client(basic_consume(1, "a", "c1") + basic_consume(1, "b", "c2"), {1, 2});
  broker(basic_consume_ok(1, "c1") + basic_consume_ok(1, "c2"), {3, 4});
  EXPECT_EQ(parser().stitcher().consumers(1), 1u);
  EXPECT_EQ(stats().consumers_over_cap, 1u);
  std::string burst;
  for (uint64_t t = 1; t <= 5; ++t) burst += delivery(1, "c1", t, "m");
  broker(burst, {5, 6});
  EXPECT_EQ(parser().stitcher().unacked(1), 3u);
  EXPECT_EQ(stats().deliveries_untracked, 2u);
  for (uint16_t ch = 2; ch <= 4; ++ch) client(publish_message(ch, "x", "k", "v"), {7, 8});
  EXPECT_EQ(parser().stitcher().channels(), 2u);
  EXPECT_EQ(stats().channels_over_cap, 2u);
  // over the cap still counted
  const Lines all = lines();
  EXPECT_EQ(std::count(all.begin(), all.end(), "publish x=x"), 3);
}

TEST_F(AmqpExchange, BlockedAndUnblocked) {
  open(Role::Client);
  handshake();
  broker(connection_blocked("low on memory"), {10, 11});
  broker(connection_unblocked(), {20, 21});
  broker(connection_blocked("low on disk"), {30, 31});
  close();
  EXPECT_EQ(lines(), (Lines{"connection.blocked", "connection.unblocked", "connection.blocked",
                            "connection.unblocked"}));
}

TEST_F(AmqpExchange, GarbageIsResynchronised) {
  open(Role::Client);
  handshake();
  client("this is not amqp at all" + publish_message(1, "x", "k", "v"), {10, 11});
  EXPECT_EQ(lines(), (Lines{"publish x=x"}));
  EXPECT_GE(stream(kSend).stats().invalid_frames, 1u);
}

}  // namespace
}  // namespace redeye::protocols::amqp

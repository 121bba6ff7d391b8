// AMQP records -> messaging_* series: names, labels, the default exchange,
// name caps, in-flight gauge arithmetic, durations.
#include "metrics/amqp/amqp_metrics.h"

#include <gtest/gtest.h>
#include <prometheus/registry.h>
#include <unistd.h>

#include <map>
#include <string>

#include "proc/process_table.h"
#include "proc/service_resolver.h"

namespace redeye::metrics::amqp {
namespace {

using protocols::AmqpDetails;
using protocols::AmqpEvent;
using protocols::Record;

class AmqpMetricsTest : public ::testing::Test {
 protected:
  AmqpMetricsTest()
      : table_(proc::ProcFs("/proc"), proc::ServiceResolver({}), 100),
        metrics_(registry_, table_, /*max_names_per_service=*/2) {
    conn_.tgid = static_cast<uint32_t>(getpid());
    conn_.protocol = "amqp";
    service_ = table_.service_of(conn_.tgid);
  }

  void feed(AmqpDetails d, uint64_t start_ns = 0, uint64_t end_ns = 0) {
    Record r;
    r.protocol = "amqp";
    r.request_ns = start_ns;
    r.response_ns = end_ns;
    r.amqp = std::move(d);
    metrics_.on_record(conn_, r);
  }
  static AmqpDetails event(AmqpEvent e) {
    AmqpDetails d;
    d.event = e;
    return d;
  }

  // Value of the one series of `name` (a counter, gauge or a histogram's
  // count/sum) whose labels include `labels` and service_name.
  double value(const std::string& family, std::map<std::string, std::string> labels,
               const std::string& part = "") {
    labels["service_name"] = service_;
    double found = -1;
    for (const auto& f : registry_.Collect()) {
      if (f.name != family) continue;
      for (const auto& m : f.metric) {
        bool match = true;
        for (const auto& [k, v] : labels) {
          bool has = false;
          for (const auto& l : m.label) has = has || (l.name == k && l.value == v);
          match = match && has;
        }
        if (!match) continue;
        EXPECT_EQ(found, -1) << "several series match";
        if (part == "count") found = static_cast<double>(m.histogram.sample_count);
        else if (part == "sum") found = m.histogram.sample_sum;
        else found = f.type == prometheus::MetricType::Gauge ? m.gauge.value : m.counter.value;
      }
    }
    return found;
  }

  prometheus::Registry registry_;
  proc::ProcessTable table_;
  AmqpMetrics metrics_;
  capture::ConnectionInfo conn_;
  std::string service_;
};

TEST_F(AmqpMetricsTest, DefaultExchangeIsAmqDefaultAndSystemIsRabbitmq) {
  feed(event(AmqpEvent::Published));
  AmqpDetails d = event(AmqpEvent::Published);
  d.exchange = "orders";
  feed(d);
  feed(d);
  EXPECT_EQ(value("messaging_client_sent_messages_total",
                  {{"messaging_destination_name", "amq.default"}, {"messaging_system", "rabbitmq"}}), 1);
  EXPECT_EQ(value("messaging_client_sent_messages_total", {{"messaging_destination_name", "orders"}}), 2);
}

TEST_F(AmqpMetricsTest, DeliveriesSettlementsAndTheInFlightGauge) {
  AmqpDetails d = event(AmqpEvent::Delivered);
  d.queue = "jobs";
  d.outcome = "deliver";
  d.in_flight = true;
  d.count = 3;
  feed(d);
  EXPECT_EQ(value("messaging_client_consumed_messages_total", {{"messaging_source_name", "jobs"}, {"operation", "deliver"}}), 3);
  EXPECT_EQ(value("messaging_client_unacked_messages", {{"messaging_source_name", "jobs"}}), 3);

  AmqpDetails s = event(AmqpEvent::Settled);
  s.queue = "jobs";
  s.outcome = "reject";
  s.in_flight = true;
  feed(s, 1'000'000'000, 1'250'000'000);
  EXPECT_EQ(value("messaging_client_settled_messages_total",
                  {{"messaging_source_name", "jobs"}, {"outcome", "reject"}, {"requeue", "false"}}), 1);
  EXPECT_EQ(value("messaging_process_duration_seconds", {{"messaging_source_name", "jobs"}, {"outcome", "reject"}}, "count"), 1);
  EXPECT_DOUBLE_EQ(value("messaging_process_duration_seconds", {{"messaging_source_name", "jobs"}, {"outcome", "reject"}}, "sum"), 0.25);
  EXPECT_EQ(value("messaging_client_unacked_messages", {{"messaging_source_name", "jobs"}}), 2);

  // a settlement of a delivery not seen: counted, not timed, gauge untouched
  s.in_flight = false;
  s.outcome = "nack";
  s.requeue = true;
  feed(s, 0, 5);
  EXPECT_EQ(value("messaging_client_settled_messages_total",
                  {{"messaging_source_name", "jobs"}, {"outcome", "nack"}, {"requeue", "true"}}), 1);
  EXPECT_EQ(value("messaging_process_duration_seconds", {{"outcome", "nack"}}, "count"), -1);
  EXPECT_EQ(value("messaging_client_unacked_messages", {{"messaging_source_name", "jobs"}}), 2);

  AmqpDetails gone = event(AmqpEvent::Unsettled);
  gone.queue = "jobs";
  gone.in_flight = true;
  gone.count = 5;  // more than the gauge holds: it stops at zero
  feed(gone);
  EXPECT_EQ(value("messaging_client_unacked_messages", {{"messaging_source_name", "jobs"}}), 0);
}

TEST_F(AmqpMetricsTest, QueueNamesAreCappedPerService) {
  for (const char* q : {"a", "b", "c", "d"}) {
    AmqpDetails d = event(AmqpEvent::ConsumerAdded);
    d.queue = q;
    feed(d);
  }
  EXPECT_EQ(value("messaging_client_consumers", {{"messaging_source_name", "a"}}), 1);
  EXPECT_EQ(value("messaging_client_consumers", {{"messaging_source_name", "b"}}), 1);
  EXPECT_EQ(value("messaging_client_consumers", {{"messaging_source_name", "_other"}}), 2);
  AmqpDetails d = event(AmqpEvent::ConsumerRemoved);
  d.queue = "d";
  feed(d);
  EXPECT_EQ(value("messaging_client_consumers", {{"messaging_source_name", "_other"}}), 1);
}

TEST_F(AmqpMetricsTest, ConfirmsReturnsClosesAndBlocked) {
  AmqpDetails c = event(AmqpEvent::Confirmed);
  c.outcome = "nack";
  feed(c, 100, 2100);
  EXPECT_EQ(value("messaging_client_publish_confirm_duration_seconds",
                  {{"messaging_destination_name", "amq.default"}, {"outcome", "nack"}}, "count"), 1);
  AmqpDetails r = event(AmqpEvent::Returned);
  r.exchange = "events";
  r.reply_code = 312;
  feed(r);
  EXPECT_EQ(value("messaging_client_returned_messages_total", {{"messaging_destination_name", "events"}}), 1);

  AmqpDetails close = event(AmqpEvent::ChannelClosed);
  close.reply_code = 404;
  feed(close);
  close.event = AmqpEvent::ConnectionClosed;
  close.reply_code = 320;
  feed(close);
  close.reply_code = 200;
  close.by_client = true;
  feed(close);
  EXPECT_EQ(value("redeye_amqp_channel_closes_total", {{"reply_code", "404"}, {"side", "server"}}), 1);
  EXPECT_EQ(value("redeye_amqp_connection_closes_total", {{"reply_code", "320"}, {"side", "server"}}), 1);
  EXPECT_EQ(value("redeye_amqp_connection_closes_total", {{"reply_code", "200"}, {"side", "client"}}), 1);

  feed(event(AmqpEvent::Blocked));
  EXPECT_EQ(value("redeye_amqp_blocked_connections", {}), 1);
  feed(event(AmqpEvent::Unblocked));
  EXPECT_EQ(value("redeye_amqp_blocked_connections", {}), 0);
}

TEST_F(AmqpMetricsTest, RecordsOfOtherProtocolsAreIgnored) {
  Record r;
  r.protocol = "http";
  r.http = protocols::HttpDetails{};
  metrics_.on_record(conn_, r);
  for (const auto& f : registry_.Collect()) EXPECT_TRUE(f.metric.empty()) << f.name;
}

}  // namespace
}  // namespace redeye::metrics::amqp

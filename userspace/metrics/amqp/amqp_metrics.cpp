#include "metrics/amqp/amqp_metrics.h"

#include <algorithm>
#include <utility>

#include "metrics/histogram_buckets.h"
#include "metrics/process_labels.h"

namespace redeye::metrics::amqp {
namespace {

using protocols::AmqpEvent;

prometheus::Family<prometheus::Counter>& counter(prometheus::Registry& registry, const char* name, const char* help) {
  return prometheus::BuildCounter().Name(name).Help(help).Register(registry);
}
prometheus::Family<prometheus::Gauge>& gauge(prometheus::Registry& registry, const char* name, const char* help) {
  return prometheus::BuildGauge().Name(name).Help(help).Register(registry);
}
prometheus::Family<prometheus::Histogram>& histogram(prometheus::Registry& registry, const char* name,
                                                     const char* help) {
  return prometheus::BuildHistogram().Name(name).Help(help).Register(registry);
}

}  // namespace

AmqpMetrics::AmqpMetrics(prometheus::Registry& registry, proc::ProcessTable& table, size_t max_names_per_service)
    : table_(table),
      queue_cap_(1000, max_names_per_service, "_other"),
      exchange_cap_(1000, max_names_per_service, "_other"),
      sent_(counter(registry, "messaging_client_sent_messages_total",
                    "Messages published (basic.publish), per exchange")),
      consumed_(counter(registry, "messaging_client_consumed_messages_total",
                        "Messages delivered to consumers (basic.deliver) or fetched (basic.get-ok), per queue")),
      process_duration_(histogram(registry, "messaging_process_duration_seconds",
                                  "Time from a delivery to its ack, nack or reject on the same channel")),
      settled_(counter(registry, "messaging_client_settled_messages_total",
                       "Deliveries acked, nacked or rejected; requeue=false nacks and rejects go to the "
                       "dead-letter exchange, if any")),
      unacked_(gauge(registry, "messaging_client_unacked_messages",
                     "Messages in flight: delivered to a consumer that acknowledges and not yet settled")),
      confirm_duration_(histogram(registry, "messaging_client_publish_confirm_duration_seconds",
                                  "Time from a publish to the broker's ack or nack of it (publisher confirms)")),
      returned_(counter(registry, "messaging_client_returned_messages_total",
                        "Mandatory publishes the broker returned as unroutable (basic.return)")),
      consumers_(gauge(registry, "messaging_client_consumers", "Consumers registered (basic.consume-ok), per queue")),
      connection_closes_(counter(registry, "redeye_amqp_connection_closes_total",
                                 "AMQP connection.close methods, by reply code and the side that sent them")),
      channel_closes_(counter(registry, "redeye_amqp_channel_closes_total",
                              "AMQP channel.close methods, by reply code and the side that sent them")),
      blocked_(gauge(registry, "redeye_amqp_blocked_connections",
                     "AMQP connections the broker has blocked (connection.blocked, resource alarm)")) {}

prometheus::Labels AmqpMetrics::labels(const proc::ProcessLabels& process, prometheus::Labels own) {
  return with_process(process, std::move(own));
}

std::string AmqpMetrics::queue_label(const std::string& service, const std::string& queue) {
  return queue.empty() ? queue : queue_cap_.admit(service, queue);
}

std::string AmqpMetrics::exchange_label(const std::string& service, const std::string& exchange) {
  return exchange_cap_.admit(service, exchange.empty() ? kDefaultExchange : exchange);
}

prometheus::Gauge& AmqpMetrics::unacked(const proc::ProcessLabels& process, const std::string& queue) {
  return gauges_.get(series_key("u", process.key(), queue), [&]() -> prometheus::Gauge& {
    return unacked_.Add(labels(process, {{"messaging_source_name", queue}}));
  });
}

prometheus::Gauge& AmqpMetrics::consumers(const proc::ProcessLabels& process, const std::string& queue) {
  return gauges_.get(series_key("c", process.key(), queue), [&]() -> prometheus::Gauge& {
    return consumers_.Add(labels(process, {{"messaging_source_name", queue}}));
  });
}

void AmqpMetrics::subtract(prometheus::Gauge& gauge, double n) {
  // Never below zero: what was added before the agent started is unknown.
  gauge.Set(std::max(0.0, gauge.Value() - n));
}

void AmqpMetrics::on_record(const capture::ConnectionInfo& conn, const protocols::Record& record) {
  if (!record.amqp) return;
  const protocols::AmqpDetails& d = *record.amqp;
  const proc::ProcessLabels process = table_.labels_of(conn.tgid);
  const std::string& service = process.service_name;  // caps are per service
  const std::string key = process.key();
  const double count = static_cast<double>(d.count);

  switch (d.event) {
    case AmqpEvent::Published: {
      const std::string exchange = exchange_label(service, d.exchange);
      counters_
          .get(series_key("p", key, exchange),
               [&]() -> prometheus::Counter& {
                 return sent_.Add(labels(process, {{"messaging_system", kMessagingSystem},
                                                   {"messaging_destination_name", exchange}}));
               })
          .Increment(count);
      break;
    }
    case AmqpEvent::Delivered: {
      const std::string queue = queue_label(service, d.queue);
      counters_
          .get(series_key("d", key, queue, d.outcome),
               [&]() -> prometheus::Counter& {
                 return consumed_.Add(labels(process, {{"messaging_system", kMessagingSystem},
                                                       {"messaging_source_name", queue},
                                                       {"operation", d.outcome}}));
               })
          .Increment(count);
      if (d.in_flight) unacked(process, queue).Increment(count);
      break;
    }
    case AmqpEvent::Settled: {
      const std::string queue = queue_label(service, d.queue);
      const std::string requeue = d.requeue ? "true" : "false";
      counters_
          .get(series_key("s", key, queue, d.outcome, requeue),
               [&]() -> prometheus::Counter& {
                 return settled_.Add(labels(process, {{"messaging_source_name", queue},
                                                      {"outcome", d.outcome},
                                                      {"requeue", requeue}}));
               })
          .Increment(count);
      if (record.request_ns != 0) {
        histograms_
            .get(series_key("t", key, queue, d.outcome),
                 [&]() -> prometheus::Histogram& {
                   return process_duration_.Add(
                       labels(process, {{"messaging_source_name", queue}, {"outcome", d.outcome}}),
                       duration_bounds());
                 })
            .Observe(seconds_between(record.request_ns, record.response_ns));
      }
      if (d.in_flight) subtract(unacked(process, queue), count);
      break;
    }
    case AmqpEvent::Unsettled:
      if (d.in_flight) subtract(unacked(process, queue_label(service, d.queue)), count);
      break;
    case AmqpEvent::Confirmed: {
      const std::string exchange = exchange_label(service, d.exchange);
      histograms_
          .get(series_key("f", key, exchange, d.outcome),
               [&]() -> prometheus::Histogram& {
                 return confirm_duration_.Add(
                     labels(process, {{"messaging_destination_name", exchange}, {"outcome", d.outcome}}),
                     latency_bounds());
               })
          .Observe(seconds_between(record.request_ns, record.response_ns));
      break;
    }
    case AmqpEvent::Returned: {
      const std::string exchange = exchange_label(service, d.exchange);
      counters_
          .get(series_key("r", key, exchange),
               [&]() -> prometheus::Counter& {
                 return returned_.Add(labels(process, {{"messaging_destination_name", exchange}}));
               })
          .Increment(count);
      break;
    }
    case AmqpEvent::ConsumerAdded:
      consumers(process, queue_label(service, d.queue)).Increment();
      break;
    case AmqpEvent::ConsumerRemoved:
      subtract(consumers(process, queue_label(service, d.queue)), 1);
      break;
    case AmqpEvent::ChannelClosed:
    case AmqpEvent::ConnectionClosed: {
      const bool channel = d.event == AmqpEvent::ChannelClosed;
      const std::string code = std::to_string(d.reply_code);
      const std::string side = d.by_client ? "client" : "server";
      counters_
          .get(series_key(channel ? "h" : "x", key, code, side),
               [&]() -> prometheus::Counter& {
                 return (channel ? channel_closes_ : connection_closes_)
                     .Add(labels(process, {{"reply_code", code}, {"side", side}}));
               })
          .Increment();
      break;
    }
    case AmqpEvent::Blocked:
    case AmqpEvent::Unblocked: {
      auto& g = gauges_.get(series_key("b", key), [&]() -> prometheus::Gauge& { return blocked_.Add(labels(process, {})); });
      if (d.event == AmqpEvent::Blocked) {
        g.Increment();
      } else {
        subtract(g, 1);
      }
      break;
    }
  }
}

}  // namespace redeye::metrics::amqp

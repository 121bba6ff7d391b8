// AMQP 0-9-1 records -> the messaging_* metrics (OpenTelemetry messaging
// names, RabbitMQ as the system) and redeye_amqp_* ones, seen from the client
// processes and, with the same names, from the broker process: at the broker
// they are its rates per exchange and per queue.
//
// Queue and exchange names are capped per service (the first ones seen are
// kept, later ones share the overflow value "_other"); routing keys, message
// properties and bodies are never labels.
#pragma once

#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

#include <string>

#include "capture/connection_table.h"
#include "metrics/http/label_cap.h"
#include "metrics/series_cache.h"
#include "proc/process_table.h"

namespace redeye::metrics::amqp {

// messaging_system of every AMQP 0-9-1 series.
inline constexpr const char* kMessagingSystem = "rabbitmq";
// The default exchange (published to as ""), named as RabbitMQ names it.
inline constexpr const char* kDefaultExchange = "amq.default";

class AmqpMetrics : public capture::RecordConsumer {
 public:
  AmqpMetrics(prometheus::Registry& registry, proc::ProcessTable& table, size_t max_names_per_service = 100);

  void on_record(const capture::ConnectionInfo& conn, const protocols::Record& record) override;

 private:
  // Every series' labels: the process's, then the series' own.
  static prometheus::Labels labels(const proc::ProcessLabels& process, prometheus::Labels own);
  std::string queue_label(const std::string& service, const std::string& queue);
  std::string exchange_label(const std::string& service, const std::string& exchange);
  prometheus::Gauge& unacked(const proc::ProcessLabels& process, const std::string& queue);
  prometheus::Gauge& consumers(const proc::ProcessLabels& process, const std::string& queue);
  static void subtract(prometheus::Gauge& gauge, double n);

  proc::ProcessTable& table_;
  http::LabelCap queue_cap_;
  http::LabelCap exchange_cap_;
  prometheus::Family<prometheus::Counter>& sent_;
  prometheus::Family<prometheus::Counter>& consumed_;
  prometheus::Family<prometheus::Histogram>& process_duration_;
  prometheus::Family<prometheus::Counter>& settled_;
  prometheus::Family<prometheus::Gauge>& unacked_;
  prometheus::Family<prometheus::Histogram>& confirm_duration_;
  prometheus::Family<prometheus::Counter>& returned_;
  prometheus::Family<prometheus::Gauge>& consumers_;
  prometheus::Family<prometheus::Counter>& connection_closes_;
  prometheus::Family<prometheus::Counter>& channel_closes_;
  prometheus::Family<prometheus::Gauge>& blocked_;
  SeriesCache<prometheus::Counter> counters_;
  SeriesCache<prometheus::Histogram> histograms_;
  SeriesCache<prometheus::Gauge> gauges_;
};

}  // namespace redeye::metrics::amqp

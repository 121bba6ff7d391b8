// HTTP records -> the OpenTelemetry-named HTTP and S3 metrics.
#pragma once

#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

#include <deque>
#include <string>
#include <unordered_map>
#include <unordered_set>

#include "capture/connection_table.h"
#include "metrics/http/http_options.h"
#include "metrics/http/label_cap.h"
#include "metrics/http/route_normalizer.h"
#include "metrics/series_cache.h"
#include "proc/process_table.h"

namespace redeye::metrics::http {

// Seconds: 0.5 ms to 10 s (the OpenTelemetry defaults plus sub-millisecond).
const prometheus::Histogram::BucketBoundaries& http_duration_bounds();
// Bytes: 64 B to 1 GiB in powers of four.
const prometheus::Histogram::BucketBoundaries& body_size_bounds();

class HttpMetrics : public capture::RecordConsumer {
 public:
  HttpMetrics(prometheus::Registry& registry, proc::ProcessTable& table, const HttpOptions& options);

  void on_record(const capture::ConnectionInfo& conn, const protocols::Record& record) override;
  void on_request_started(const capture::ConnectionInfo& conn, protocols::Role role) override;
  void on_request_abandoned(const capture::ConnectionInfo& conn, protocols::Role role, uint64_t n) override;

 private:
  void observe_server(const proc::ProcessLabels& process, const capture::ConnectionInfo& conn,
                      const protocols::Record& r);
  void observe_client(const proc::ProcessLabels& process, const capture::ConnectionInfo& conn,
                      const protocols::Record& r);
  void observe_s3(const proc::ProcessLabels& process, const protocols::Record& r);
  prometheus::Gauge& active(const proc::ProcessLabels& process);

  struct BodySeries {
    prometheus::Histogram* request;
    prometheus::Histogram* response;
  };

  proc::ProcessTable& table_;
  HttpOptions options_;
  // Keyed by the process's interned labels, method and status codes and
  // the route or address: nothing is built to find a series seen before.
  ProcessSeriesCache<prometheus::Histogram> server_series_;
  ProcessSeriesCache<prometheus::Histogram> client_series_;
  ProcessSeriesCache<BodySeries> body_series_;
  std::deque<BodySeries> body_storage_;  // stable addresses for body_series_
  std::unordered_map<const proc::ProcessLabels*, prometheus::Gauge*> active_series_;
  std::string address_scratch_;  // a client's Host, made label-safe; reused per record
  RouteNormalizer routes_;
  LabelCap route_cap_;
  LabelCap source_cap_;
  LabelCap address_cap_;
  std::unordered_set<std::string> s3_hosts_;
  prometheus::Family<prometheus::Histogram>& server_duration_;
  prometheus::Family<prometheus::Histogram>& client_duration_;
  prometheus::Family<prometheus::Gauge>& server_active_;
  prometheus::Family<prometheus::Histogram>& request_body_;
  prometheus::Family<prometheus::Histogram>& response_body_;
  prometheus::Family<prometheus::Counter>& by_source_;
  prometheus::Family<prometheus::Histogram>& s3_duration_;
  prometheus::Family<prometheus::Counter>& s3_bytes_;
};

}  // namespace redeye::metrics::http

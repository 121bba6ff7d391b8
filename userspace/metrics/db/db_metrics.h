// Database records (PostgreSQL, MySQL) -> the OpenTelemetry-named db_*
// metrics, seen from the client processes and from the database servers.
#pragma once

#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

#include "capture/connection_table.h"
#include "metrics/http/label_cap.h"
#include "metrics/series_cache.h"
#include "proc/process_table.h"

namespace redeye::metrics::db {

// Seconds: 100 µs to 30 s.
const prometheus::Histogram::BucketBoundaries& db_duration_bounds();

class DbMetrics : public capture::RecordConsumer {
 public:
  DbMetrics(prometheus::Registry& registry, proc::ProcessTable& table, size_t max_collections_per_service = 100);

  void on_record(const capture::ConnectionInfo& conn, const protocols::Record& record) override;
  void on_request_started(const capture::ConnectionInfo& conn, protocols::Role role) override;
  void on_request_abandoned(const capture::ConnectionInfo& conn, protocols::Role role, uint64_t n) override;

 private:
  prometheus::Gauge& active(const proc::ProcessLabels& process, const std::string& system);

  proc::ProcessTable& table_;
  http::LabelCap collection_cap_;
  http::LabelCap address_cap_;
  prometheus::Family<prometheus::Histogram>& client_duration_;
  prometheus::Family<prometheus::Histogram>& server_duration_;
  prometheus::Family<prometheus::Gauge>& server_active_;
  SeriesCache<prometheus::Histogram> series_;
};

}  // namespace redeye::metrics::db
